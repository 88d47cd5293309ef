/* version.h -- what mtad and mtactl say they are. */
#ifndef MTAD_VERSION_H
#define MTAD_VERSION_H

#define MTAD_VERSION "0.1.0"

#endif
