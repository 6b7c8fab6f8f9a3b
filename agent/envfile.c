/* placeholder until the parser lands */
#include <errno.h>
#include "envfile.h"
int envfile_parse(const char *path, const char *text, size_t len, EnvFile **ret, DiagList *diags) { return -EOPNOTSUPP; }
int envfile_load(const char *path, EnvFile **ret, DiagList *diags) { return -EOPNOTSUPP; }
const EnvEntry *envfile_get(const EnvFile *f, const char *key) { return NULL; }
const char *envfile_value(const EnvFile *f, const char *key) { return NULL; }
EnvFile *envfile_free(EnvFile *f) { return NULL; }
