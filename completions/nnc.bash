# bash completion for nnc, installed as share/bash-completion/completions/nnc
# (bash-completion loads it on the first `nnc <TAB>`; or `source` it).
# Completes the commands (check, eval, train), each command's options, the
# values of --emit (a comma-separated list), --color, -d and --progress,
# the functions of the model for `nnc eval ... --fn`, and .nn (.ir) files.
# Needs only bash: it does not use bash-completion's helpers.
# tests/install/check_options.sh checks that it knows every option of
# `nnc --help` and `nnc eval --help` and every --emit kind.

_nnc_emit_kinds="ast ir grad-ir tape dot llvm-ir asm obj lib exe python"
_nnc_compile_opts="--emit= -O0 -O1 -O2 -O3 --target= -mcpu= --name= -ffast-math --max-tape-bytes= --dot-fn= --stats
  -d -o -D -fsyntax-only -fmax-errors= --color= --passes= -h --help --version"
_nnc_eval_opts="--fn --params --seed --input --grad --wrt --interp --f64 -D -o -h --help"
_nnc_train_opts="-D -O0 -O1 -O2 -O3 -ffast-math --color= -fmax-errors= --epochs --lr --seed --threads --data
  --test --limit --checkpoint --checkpoint-every --resume --eval-only --metrics --plot --progress -q -h --help
  --per-rank-batch --mpi-timeout"

# _nnc_files EXT...: files with those extensions, and directories
_nnc_files() {
  local cur="$1" ext
  shift
  compopt -o filenames 2>/dev/null
  COMPREPLY+=($(compgen -d -- "$cur"))
  for ext in "$@"; do COMPREPLY+=($(compgen -f -X "!*.$ext" -- "$cur")); done
}

# _nnc_values OPT CUR: the values of an option written OPT=CUR (or OPT CUR)
_nnc_values() {
  local opt="$1" cur="$2" head=""
  case "$opt" in
    --emit)
      # a list: complete its last element
      [[ "$cur" == *,* ]] && head="${cur%,*}," && cur="${cur##*,}"
      COMPREPLY=($(compgen -P "$head" -W "$_nnc_emit_kinds" -- "$cur")) ;;
    --color) COMPREPLY=($(compgen -W "auto always never" -- "$cur")) ;;
    --progress) COMPREPLY=($(compgen -W "auto bar line none" -- "$cur")) ;;
    --passes) COMPREPLY=($(compgen -W "all fold simplify cse licm dce" -- "$cur")) ;;
    -d) COMPREPLY=($(compgen -W "verify no-opt dump=fold dump=simplify dump=cse dump=licm dump=dce dump=all" -- "$cur")) ;;
    -o|--params|--input|--checkpoint|--resume|--data|--test|--metrics|--plot)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur")) ;;
    --fn)
      # the functions of the model named on the command line
      local w fns=""
      for w in "${COMP_WORDS[@]}"; do
        [[ "$w" == *.nn && -r "$w" ]] && fns=$(sed -n 's/^[[:space:]]*fn[[:space:]]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$w")
      done
      COMPREPLY=($(compgen -W "$fns" -- "$cur")) ;;
    *) return 1 ;;
  esac
  return 0
}

_nnc() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="" prev2=""
  ((COMP_CWORD > 0)) && prev="${COMP_WORDS[COMP_CWORD - 1]}"
  ((COMP_CWORD > 1)) && prev2="${COMP_WORDS[COMP_CWORD - 2]}"
  COMPREPLY=()
  # OPT=VALUE: bash splits it at '=' (COMP_WORDBREAKS) into OPT, =, VALUE
  if [[ "$cur" == "=" ]]; then
    _nnc_values "$prev" "" && return 0
  elif [[ "$prev" == "=" ]]; then
    _nnc_values "$prev2" "$cur" && return 0
  elif [[ "$cur" == --*=* ]]; then # '=' is not a word break here
    _nnc_values "${cur%%=*}" "${cur#*=}" && COMPREPLY=("${COMPREPLY[@]/#/${cur%%=*}=}") && return 0
  fi
  # OPT VALUE
  case "$prev" in
    -d|-o|--fn|--params|--input|--checkpoint|--resume|--data|--test|--metrics|--plot|--progress)
      _nnc_values "$prev" "$cur"
      return 0 ;;
    -D|--seed|--wrt|--epochs|--lr|--threads|--limit|--checkpoint-every|--mpi-timeout) return 0 ;;
  esac
  local cmd=""
  ((COMP_CWORD > 1)) && cmd="${COMP_WORDS[1]}"
  if ((COMP_CWORD == 1)) && [[ "$cur" != -* ]]; then
    COMPREPLY=($(compgen -W "check eval train" -- "$cur"))
    _nnc_files "$cur" nn ir
    return 0
  fi
  local opts="$_nnc_compile_opts"
  case "$cmd" in
    eval) opts="$_nnc_eval_opts" ;;
    train) opts="$_nnc_train_opts" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    # an option that takes =VALUE: no space after it
    [[ ${#COMPREPLY[@]} == 1 && "${COMPREPLY[0]}" == *= ]] && compopt -o nospace 2>/dev/null
  elif [[ "$cmd" == eval || "$cmd" == train || "$cmd" == check ]]; then
    _nnc_files "$cur" nn
  else
    _nnc_files "$cur" nn ir
  fi
  return 0
}
complete -F _nnc nnc
