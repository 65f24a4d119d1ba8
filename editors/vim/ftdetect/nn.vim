" ftdetect/nn.vim — files ending in .nn are nnc models (editors/README.md)
autocmd BufRead,BufNewFile *.nn setfiletype nn
