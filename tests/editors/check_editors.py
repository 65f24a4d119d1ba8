#!/usr/bin/env python3
"""check_editors.py SRCDIR — the editor support under editors/ against the
compiler's own tables:

- every keyword and type name of the flex lexer (grammar/lexer.l), every
  builtin of compiler/builtins.def and check_deriv.c, every initializer
  (init_defs), train setting (keys), optimizer, schedule
  and data source (train.c's "unknown ... (a, b, c)" diagnostics) is
  highlighted by both editors/vim/syntax/nn.vim and
  editors/textmate/nn.tmLanguage.json, the keywords as keywords;
- neither file highlights a name the compiler does not know;
- the JSON files parse, every regex of the grammar compiles, the VS Code
  manifest names the grammar's file and scope;
- when vim is installed, it loads the syntax file without an error and
  gives each kind of token of a small model its group (Python's re stands
  in for the grammar's engine: no TextMate tokenizer is installed).
Fails listing every problem."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

src = sys.argv[1]
problems = []


def read(rel):
    with open(os.path.join(src, rel), encoding="utf-8") as f:
        return f.read()


def block(start, first=None):
    """The text from `start` to the next '};' in the compiler file holding it
    (tables move between files; `first` is looked at before the others)."""
    cdir = os.path.join(src, "compiler")
    files = sorted(os.listdir(cdir))
    if first in files:
        files.remove(first)
        files.insert(0, first)
    for name in files:
        if name.endswith(".c"):
            text = read("compiler/" + name)
            i = text.find(start)
            if i >= 0:
                return text[i:text.index("};", i)]
    problems.append("no compiler/*.c holds '%s' (did the table change?)" % start)
    return ""


def listed_in_message(text, what):
    m = re.search(r"unknown %s '%%s'[^(]*\(([a-z_, ]+)\)" % what, text)
    if not m:
        problems.append("train.c: no 'unknown %s' message listing the names (did it change?)" % what)
        return set()
    return {w.strip() for w in m.group(1).split(",")}


# ---- the compiler's names ----
lexer = read("grammar/lexer.l")
keywords = set(re.findall(r'^"([A-Za-z_][A-Za-z0-9_]*)"\s+\{', lexer, re.M))
builtins = set(re.findall(r'^B\([A-Z0-9_]+,\s*"([a-z0-9_]+)"', read("compiler/builtins.def"), re.M))
derivs = set(re.findall(r'"([a-z_]+)"', block("deriv_names[] = {")))
inits = set(re.findall(r'\{"([a-z_]+)"', block("init_defs[] = {")))
settings = set(re.findall(r'"([a-z_]+)"', block("keys[] = {", "train.c")))
train = read("compiler/train.c")
optimizers = listed_in_message(train, "optimizer")
schedules = listed_in_message(train, "schedule")
sources = listed_in_message(train, "data source")
names = {"keyword": keywords, "builtin": builtins | derivs, "initializer": inits, "train setting": settings,
         "optimizer": optimizers, "schedule": schedules, "data source": sources}
known = set().union(*names.values())
for what, want in [("keyword", 15), ("builtin", 45), ("initializer", 10), ("train setting", 8)]:
    if len(names[what]) < want:
        problems.append("only %d %ss found in the sources: did a table move?" % (len(names[what]), what))

# ---- vim ----
vim_path = "editors/vim/syntax/nn.vim"
vim_text = read(vim_path)
vim_words, vim_keywords = set(), set()
vim_keyword_groups = {"nnStatement", "nnRepeat", "nnReturn", "nnBoolean", "nnType"}
for m in re.finditer(r"^syn keyword\s+(\w+)\s+(.*)$", vim_text, re.M):
    group, words = m.group(1), m.group(2).split()
    words = [w for w in words if w != "contained"]
    if group == "nnTodo":
        continue
    vim_words.update(words)
    if group in vim_keyword_groups:
        vim_keywords.update(words)

# ---- TextMate ----
tm_path = "editors/textmate/nn.tmLanguage.json"
grammar = None
try:
    grammar = json.loads(read(tm_path))
except ValueError as e:
    problems.append("%s is not JSON: %s" % (tm_path, e))
tm_words, tm_keywords = set(), set()


def walk(node, section):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("match", "begin", "end") and isinstance(v, str):
                try:
                    re.compile(v)
                except re.error as e:
                    problems.append("%s: the regex %r does not compile: %s" % (tm_path, v, e))
                m = re.fullmatch(r"\\b\(([a-z0-9_|]+)\)\\b", v)
                if m and section in ("keywords", "names"):
                    tm_words.update(m.group(1).split("|"))
                    if section == "keywords":
                        tm_keywords.update(m.group(1).split("|"))
            else:
                walk(v, section)
    elif isinstance(node, list):
        for v in node:
            walk(v, section)


if grammar:
    for section, node in grammar.get("repository", {}).items():
        walk(node, section)
    if grammar.get("scopeName") != "source.nn":
        problems.append("%s: scopeName is not source.nn" % tm_path)

for path in ["editors/vscode/package.json", "editors/vscode/language-configuration.json"]:
    try:
        json.loads(read(path))
    except ValueError as e:
        problems.append("%s is not JSON: %s" % (path, e))
try:
    pkg = json.loads(read("editors/vscode/package.json"))
    g = pkg["contributes"]["grammars"][0]
    if os.path.basename(g["path"]) != os.path.basename(tm_path) or g["scopeName"] != "source.nn":
        problems.append("editors/vscode/package.json does not name %s (source.nn)" % os.path.basename(tm_path))
except (ValueError, KeyError, IndexError) as e:
    problems.append("editors/vscode/package.json has no grammar: %s" % e)

# ---- the lists against each other ----
for editor, words, kws in [(vim_path, vim_words, vim_keywords), (tm_path, tm_words, tm_keywords)]:
    for what, want in names.items():
        for w in sorted(want - words):
            problems.append("%s does not highlight the %s '%s'" % (editor, what, w))
    for w in sorted(words - known):
        problems.append("%s highlights '%s', which the compiler does not know" % (editor, w))
    if kws != keywords:
        problems.append("%s: the keywords are %s, the lexer's %s" % (editor, sorted(kws), sorted(keywords)))

# ---- vim loads it and colours a model ----
MODEL = r'''model m {  // TODO
  param W: f32[3] = he_normal()
  fn f(x: f32[3]) -> f32 { return sum(grad(g)(x) * 1.5e-3 + 2) }
  train { minimize = f  optimizer = adam(lr = 1e-3)  data = csv("a\"b.csv")  /* c */ }
}
'''
EXPECT = [("model", "nnStatement"), ("TODO", "nnTodo"), ("he_normal", "nnInitializer"), ("f32", "nnType"),
          ("->", "nnOperator"), ("return", "nnReturn"), ("sum", "nnBuiltin"), ("grad", "nnDerivative"),
          ("1.5e-3", "nnFloat"), ("2)", "nnInteger"), ("minimize", "nnTrainKey"), ("adam", "nnOptimizer"),
          ("1e-3", "nnFloat"), ("csv", "nnDataSource"), ('\\"', "nnEscape"), ("a\\", "nnString"), ("c */", "nnComment"),
          ("3]", "nnInteger")]
vim = shutil.which("vim")
if vim:
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "t.nn")
        out = os.path.join(tmp, "out")
        with open(model, "w") as f:
            f.write(MODEL)
        lines = MODEL.split("\n")
        script = ["set rtp^=" + os.path.join(os.path.abspath(src), "editors/vim"), "filetype on", "syntax on",
                  "edit " + model, "let g:r = [&filetype, get(b:, 'current_syntax', '')]"]
        for tok, _ in EXPECT:
            ln = next(i for i, l in enumerate(lines) if tok in l)
            col = lines[ln].index(tok)
            script.append("call add(g:r, synIDattr(synID(%d, %d, 1), 'name'))" % (ln + 1, col + 1))
        script += ["call add(g:r, v:errmsg)", "call writefile(g:r, '%s')" % out, "qall!"]
        with open(os.path.join(tmp, "t.vim"), "w") as f:
            f.write("\n".join(script) + "\n")
        r = subprocess.run([vim, "-Nu", "NONE", "-i", "NONE", "-es", "-S", os.path.join(tmp, "t.vim")],
                           capture_output=True, text=True, timeout=60)
        got = open(out).read().split("\n") if os.path.exists(out) else []
        if r.returncode != 0 or len(got) < len(EXPECT) + 3:
            problems.append("vim failed on the syntax file (status %d): %s %s" % (r.returncode, r.stdout, r.stderr))
        else:
            if got[0] != "nn" or got[1] != "nn":
                problems.append("vim: a .nn file gets filetype %r and syntax %r, not nn" % (got[0], got[1]))
            for (tok, want), have in zip(EXPECT, got[2:]):
                if have != want:
                    problems.append("vim: %r is highlighted as %r, not %s" % (tok, have, want))
            if got[2 + len(EXPECT)]:
                problems.append("vim reported an error: %s" % got[2 + len(EXPECT)])
else:
    print("vim is not installed: the syntax file is not loaded")

for p in problems:
    print(p)
print("editors: %d names of the compiler checked in 2 files, %d problems" % (len(known), len(problems)))
sys.exit(1 if problems else 0)
