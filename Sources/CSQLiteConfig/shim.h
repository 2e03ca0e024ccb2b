#ifndef USERSYNC_CSQLITECONFIG_SHIM_H
#define USERSYNC_CSQLITECONFIG_SHIM_H
#include <sqlite3.h>

/* sqlite3_config is variadic: Swift cannot call it. SQLITE_CONFIG_MEMSTATUS off stops SQLite
   counting every allocation under a global mutex ("disabling memory statistics ... can
   improve performance", https://www.sqlite.org/c3ref/c_config_covering_index_scan.html).
   It must come before the library initialises (before the first connection opens): later it
   returns SQLITE_MISUSE and changes nothing. */
static inline int csqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
