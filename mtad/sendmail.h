/*
 * sendmail.h -- the `sendmail` command of local programs (also `mtactl
 * send`): a message on stdin goes to mtad over state_dir/submit.sock.
 */
#ifndef MTAD_SENDMAIL_H
#define MTAD_SENDMAIL_H

/* argv as sendmail's: [-t] [-f SENDER] [-F NAME] [-i|-oi] [RCPT...].
 * conf_path NULL: $MTAD_CONF or the default.  Returns a sysexits code. */
int sendmail_main(int argc, char **argv, const char *conf_path);

#endif
