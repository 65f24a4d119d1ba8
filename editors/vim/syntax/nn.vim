" Vim syntax file
" Language:    nn, the model language of nnc (docs/language.md)
" Maintainer:  the nnc project
" Install:     see editors/README.md
"
" The word lists are the compiler's own tables (tests/editors checks them):
" keywords and types from grammar/lexer.l, builtins from
" compiler/builtins.def and compiler/check_deriv.c, initializers from
" check_param.c, train settings, optimizers, schedules and data sources from
" train.c. Only the keywords are reserved: the other names are ordinary
" identifiers given meaning by their position, highlighted wherever they are.

if exists("b:current_syntax")
  finish
endif
let s:cpo_save = &cpo
set cpo&vim

syn case match

" keywords (grammar/lexer.l)
syn keyword nnStatement    const dim model param fn let var train
syn keyword nnRepeat       for in checkpoint
syn keyword nnReturn       return
syn keyword nnBoolean      true false
syn keyword nnType         f32 f64 i32 bool

" builtin functions (compiler/builtins.def; the type names above are casts too)
syn keyword nnBuiltin      exp log sqrt rsqrt abs tanh sigmoid relu gelu pow maximum minimum clip where
syn keyword nnBuiltin      sum mean max min logsumexp argmax
syn keyword nnBuiltin      reshape flatten transpose permute squeeze unsqueeze broadcast_to concat
syn keyword nnBuiltin      zeros ones full zeros_like ones_like arange causal_mask one_hot
syn keyword nnBuiltin      matmul conv2d maxpool2d avgpool2d embed softmax log_softmax layernorm dropout
syn keyword nnBuiltin      cross_entropy mse binary_cross_entropy
" derivatives (compiler/check_deriv.c)
syn keyword nnDerivative   grad value_and_grad jvp
" initializers of param declarations (check_param.c)
syn keyword nnInitializer  constant normal uniform trunc_normal glorot_uniform glorot_normal
syn keyword nnInitializer  xavier_uniform xavier_normal he_normal he_uniform kaiming_normal kaiming_uniform
" the train block (train.c): settings, optimizers, schedules, data sources
syn keyword nnTrainKey     minimize predict generate optimizer schedule epochs clip_grad_norm seed data test max_tape_bytes
syn keyword nnOptimizer    sgd adam adamw
syn keyword nnSchedule     step cosine
syn keyword nnDataSource   idx npy csv text

" numbers: 42; 0.5, 1.5e-3, 1e9 (not 1. or .5); digits running into letters are an error
syn match   nnNumberError  "\<\d\+[A-Za-z_]\w*\>"
syn match   nnInteger      "\<\d\+\>"
syn match   nnFloat        "\<\d\+\.\d\+\%([eE][+-]\=\d\+\)\=\>"
syn match   nnFloat        "\<\d\+[eE][+-]\=\d\+\>"

" strings: one line, escapes \n \t \r \\ \" \'
syn region  nnString       start=+"+ skip=+\\.+ end=+"+ end=+$+ oneline contains=nnEscape,nnEscapeError
syn match   nnEscapeError  "\\." contained
syn match   nnEscape       "\\[ntr\\"']" contained

" comments: // to the end of the line, /* ... */ (not nested)
syn keyword nnTodo         TODO FIXME XXX NOTE contained
syn match   nnComment      "//.*$" contains=nnTodo,@Spell
syn region  nnComment      start="/\*" end="\*/" contains=nnTodo,@Spell

" operators: ** @ == != <= >= && || += -= *= /= -> .. and + - * / % < > ! =
syn match   nnOperator     "\*\*\|->\|\.\.\|==\|!=\|<=\|>=\|&&\|||\|+=\|-=\|\*=\|/=\|[-+*%@<>!=]"
syn match   nnOperator     "/\%([/*]\)\@!"

hi def link nnStatement    Statement
hi def link nnRepeat       Repeat
hi def link nnReturn       Statement
hi def link nnBoolean      Boolean
hi def link nnType         Type
hi def link nnBuiltin      Function
hi def link nnDerivative   Special
hi def link nnInitializer  Function
hi def link nnTrainKey     Identifier
hi def link nnOptimizer    Function
hi def link nnSchedule     Function
hi def link nnDataSource   Function
hi def link nnInteger      Number
hi def link nnFloat        Float
hi def link nnNumberError  Error
hi def link nnString       String
hi def link nnEscape       SpecialChar
hi def link nnEscapeError  Error
hi def link nnTodo         Todo
hi def link nnComment      Comment
hi def link nnOperator     Operator

let b:current_syntax = "nn"
let &cpo = s:cpo_save
unlet s:cpo_save
