/* abi_elf.c — the dynamic symbol table of a shared object, read from the
 * file itself (what `nm -D` prints), so the test needs no binutils. Only
 * 64-bit little-endian ELF, the only kind nnc makes here; every offset
 * and size is checked against the file before it is used. */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"

/* True if [off, off + n) lies inside a file of `len` bytes. */
static bool inside(size_t len, uint64_t off, uint64_t n) { return off <= len && n <= len - off; }

static const Elf64_Shdr *find_section(const uint8_t *b, size_t len, uint32_t type, char *err, size_t errn) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;
  if (eh->e_shentsize != sizeof(Elf64_Shdr) || !inside(len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr))) {
    snprintf(err, errn, "bad section header table");
    return NULL;
  }
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; i++)
    if (sh[i].sh_type == type) {
      if (sh[i].sh_link >= eh->e_shnum) break;
      return &sh[i];
    }
  snprintf(err, errn, "no section of type %u", type);
  return NULL;
}

static int collect(const uint8_t *b, size_t len, DynSym **out, char *err, size_t errn) {
  const Elf64_Shdr *ds = find_section(b, len, SHT_DYNSYM, err, errn);
  if (!ds) return -1;
  const Elf64_Shdr *ss = &((const Elf64_Shdr *)(b + ((const Elf64_Ehdr *)b)->e_shoff))[ds->sh_link];
  if (ds->sh_entsize != sizeof(Elf64_Sym) || !inside(len, ds->sh_offset, ds->sh_size) ||
      !inside(len, ss->sh_offset, ss->sh_size)) {
    snprintf(err, errn, "bad .dynsym or its string table");
    return -1;
  }
  size_t n = ds->sh_size / sizeof(Elf64_Sym);
  const Elf64_Sym *sym = (const Elf64_Sym *)(b + ds->sh_offset);
  const char *str = (const char *)(b + ss->sh_offset);
  DynSym *v = calloc(n + 1, sizeof *v);
  int k = 0;
  for (size_t i = 1; v && i < n; i++) { /* entry 0 is the null symbol */
    int bind = ELF64_ST_BIND(sym[i].st_info);
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) continue;
    if (sym[i].st_name >= ss->sh_size || !memchr(str + sym[i].st_name, 0, ss->sh_size - sym[i].st_name)) {
      snprintf(err, errn, "symbol %zu: bad name offset", i);
      free(v);
      return -1;
    }
    snprintf(v[k].name, sizeof v[k].name, "%s", str + sym[i].st_name);
    v[k].defined = sym[i].st_shndx != SHN_UNDEF;
    v[k].func = ELF64_ST_TYPE(sym[i].st_info) == STT_FUNC;
    k++;
  }
  if (!v) {
    snprintf(err, errn, "out of memory");
    return -1;
  }
  *out = v;
  return k;
}

int elf_dynsyms(const char *path, DynSym **out, char *err, size_t errn) {
  size_t len;
  uint8_t *b = read_file(path, &len);
  if (!b) {
    snprintf(err, errn, "cannot read %s", path);
    return -1;
  }
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;
  int n = -1;
  if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB)
    snprintf(err, errn, "%s: not a 64-bit little-endian ELF file", path);
  else if (eh->e_type != ET_DYN)
    snprintf(err, errn, "%s: not a shared object", path);
  else
    n = collect(b, len, out, err, errn);
  free(b);
  return n;
}
