"""The manual pages: they format without a warning, and they name every
command of `mtactl help`, every directive of mtad/conf.c and every key of
mtatui/keys.c.

- mandoc -T lint -W warning prints nothing for each page in share/man
  (skipped only when mandoc is not installed);
- man --warnings -l (man-db, groff) prints nothing on stderr;
- each command of `mtactl help` (MTACTL_BIN, as in mtadtest.py) is a tagged
  paragraph of COMMANDS in mtactl.8;
- each directive of conf_directives[] in mtad/conf.c is a tagged paragraph
  of DIRECTIVES in mtad.conf.5;
- each key name of the binding table keys[] in mtatui/keys.c (its third
  field: "r", "R H U D", "/"; NULL for an alias) is a tagged paragraph of
  KEYS in mtatui.8.

Run: make integration PYTEST_ARGS="-k test_docs"
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from mtadtest import MTACTL_BIN

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAN_DIR = ROOT / "share" / "man"
PAGES = sorted(p for p in MAN_DIR.iterdir() if re.fullmatch(r"[^.].*\.[1-9]", p.name))
T = 60.0


def run(argv, env=None):
    return subprocess.run(argv, capture_output=True, encoding="utf-8", errors="replace",
                          timeout=T, env=env)


def test_pages_exist():
    names = {p.name for p in PAGES}
    assert {"mtad.8", "mtactl.8", "mtatui.8", "mtad.conf.5"} <= names, names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_mandoc_lint(page):
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc is not installed (contrib/deps.sh --test installs it)")
    r = run(["mandoc", "-T", "lint", "-W", "warning", str(page)])
    out = (r.stdout + r.stderr).strip()
    assert out == "" and r.returncode == 0, f"mandoc lint on {page.name}:\n{out}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_man_warnings(page):
    assert shutil.which("man"), "man (man-db, with groff) is not installed"
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat")
    env.pop("MANOPT", None)
    r = run(["man", "--warnings", "-l", str(page)], env=env)
    assert r.returncode == 0, f"man -l {page.name}: exit {r.returncode}: {r.stderr}"
    assert r.stderr.strip() == "", f"man --warnings -l {page.name}:\n{r.stderr}"
    assert r.stdout.strip(), f"man -l {page.name} printed nothing"


# ---------------------------------------------------------------- roff text

def plain(line):
    """A roff line as words: the macro name, font escapes and quotes gone."""
    line = re.sub(r"^\.(B|I|R|BI|BR|IB|IR|RB|RI|TP|IP)\b ?", "", line)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\&", "").replace('"', "")
    return " ".join(line.split())


def section(text, name):
    """The lines of one .SH section of a page."""
    m = re.search(r"^\.SH " + re.escape(name) + r"\s*$(.*?)(?=^\.SH |\Z)", text,
                  re.M | re.S)
    assert m, f"no .SH {name} section"
    return m.group(1).splitlines()


def tags(lines):
    """The tags of the .TP paragraphs among lines, as plain text."""
    return [plain(lines[i + 1]) for i, line in enumerate(lines[:-1])
            if line.startswith(".TP")]


def starts_with_words(tag, words):
    return tag == words or tag.startswith(words + " ")


# ---------------------------------------------------------------- mtactl.8

def help_commands():
    """The commands of `mtactl help`: the lower-case words at the start of
    each entry ("user add NAME --domains D,..." -> "user add")."""
    assert MTACTL_BIN and os.access(MTACTL_BIN, os.X_OK), \
        f"MTACTL_BIN={MTACTL_BIN!r} is not executable (run make)"
    r = run([MTACTL_BIN, "help"])
    assert r.returncode == 0, f"mtactl help: exit {r.returncode}: {r.stderr}"
    cmds = []
    for line in r.stdout.splitlines():
        if not line.startswith("  ") or line.startswith("   "):
            continue        # the usage line, the notes, continued help texts
        head = re.split(r"\s{2,}", line.strip())[0]
        words = []
        for w in head.split():
            if not re.fullmatch(r"[a-z][a-z_-]*", w):
                break
            words.append(w)
        assert words, f"no command in help line {line!r}"
        cmds.append(" ".join(words))
    assert len(cmds) >= 10, f"too few commands in `mtactl help`:\n{r.stdout}"
    return cmds


def test_mtactl_page_names_every_command():
    text = (MAN_DIR / "mtactl.8").read_text(encoding="utf-8")
    documented = tags(section(text, "COMMANDS"))
    missing = [c for c in help_commands()
               if not any(starts_with_words(t, c) for t in documented)]
    assert not missing, (f"commands of `mtactl help` without a paragraph in "
                         f"COMMANDS of mtactl.8: {missing}")


# ---------------------------------------------------------------- mtad.conf.5

def conf_directives():
    """The names in conf_directives[] of mtad/conf.c."""
    src = (ROOT / "mtad" / "conf.c").read_text(encoding="utf-8")
    m = re.search(r"conf_directives\[\]\s*=\s*\{(.*?)^\};", src, re.S | re.M)
    assert m, "conf_directives[] not found in mtad/conf.c"
    names = re.findall(r'^\s*\{\s*"([a-z_0-9]+)",', m.group(1), re.M)
    assert len(names) >= 20, f"too few directives parsed: {names}"
    return names


def test_conf_page_names_every_directive():
    text = (MAN_DIR / "mtad.conf.5").read_text(encoding="utf-8")
    documented = tags(section(text, "DIRECTIVES"))
    missing = [d for d in conf_directives()
               if not any(starts_with_words(t, d) for t in documented)]
    assert not missing, (f"directives of mtad/conf.c without a paragraph in "
                         f"DIRECTIVES of mtad.conf.5: {missing}")


# ---------------------------------------------------------------- mtatui.8

# one entry of keys[]: { KEY, WHERE, "name" or NULL, ... }; KEY may be a
# character literal (',' and '{' included), WHERE an expression of flags
KEY_ENTRY_RE = re.compile(
    r"""\{\s*(?:'(?:\\.|[^'\\])+'|[^,{}'"]+?)\s*,"""
    r"""\s*[^,{}'"]+?\s*,\s*(NULL|"(?:\\.|[^"\\])*")""")


def tui_key_names():
    """The names of the bindings in keys[] of mtatui/keys.c, in order (the
    help view's lines; the aliases, named NULL, are left out)."""
    src = (ROOT / "mtatui" / "keys.c").read_text(encoding="utf-8")
    m = re.search(r"\bstruct binding keys\[\]\s*=\s*\{(.*?)^\};", src, re.S | re.M)
    assert m, "the table keys[] not found in mtatui/keys.c"
    entries = KEY_ENTRY_RE.findall(m.group(1))
    # every "{" outside string and character literals opens an entry
    opened = re.sub(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])+'""", "", m.group(1)).count("{")
    assert len(entries) == opened, \
        f"entries of keys[] not parsed: {opened} entries, {len(entries)} understood"
    names = [re.sub(r'\\(.)', r"\1", e[1:-1]) for e in entries if e != "NULL"]
    assert len(names) >= 20, f"too few key names parsed: {names}"
    return names


def test_tui_page_names_every_key():
    text = (MAN_DIR / "mtatui.8").read_text(encoding="utf-8")
    documented = set(tags(section(text, "KEYS")))
    missing = [k for k in tui_key_names() if k not in documented]
    assert not missing, (f"keys of mtatui/keys.c without a tagged paragraph in KEYS "
                         f"of mtatui.8: {missing}")
