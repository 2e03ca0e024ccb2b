#ifndef USERSYNC_CLDAP_SHIM_H
#define USERSYNC_CLDAP_SHIM_H

// The parts of libldap that Swift cannot import as they are: pointer and cast macros,
// and the C callback that Cyrus SASL calls during an interactive bind.

#include <ldap.h>
#include <lber.h>
#include <sasl/sasl.h>
#include <string.h>

// LDAP_OPT_ON / LDAP_OPT_OFF are `((void *) &ber_pvt_opt_on)` / `((void *) 0)`.
static inline void *cldap_opt_on(void) { return LDAP_OPT_ON; }
static inline void *cldap_opt_off(void) { return LDAP_OPT_OFF; }

// LDAP_SASL_SIMPLE is `((char*)0)`: the mechanism name that selects a simple bind.
static inline const char *cldap_sasl_simple(void) { return LDAP_SASL_SIMPLE; }

// Message types are `((ber_tag_t) 0x..U)` casts, which Swift does not import.
static inline int cldap_res_bind(void) { return (int)LDAP_RES_BIND; }
static inline int cldap_res_search_entry(void) { return (int)LDAP_RES_SEARCH_ENTRY; }
static inline int cldap_res_search_reference(void) { return (int)LDAP_RES_SEARCH_REFERENCE; }
static inline int cldap_res_search_result(void) { return (int)LDAP_RES_SEARCH_RESULT; }
static inline int cldap_res_extended(void) { return (int)LDAP_RES_EXTENDED; }
static inline int cldap_res_intermediate(void) { return (int)LDAP_RES_INTERMEDIATE; }

// Referral chasing takes LDAP_OPT_ON/OFF, not an int.
static inline int cldap_set_referrals(LDAP *ld, int on) {
    return ldap_set_option(ld, LDAP_OPT_REFERRALS, on ? LDAP_OPT_ON : LDAP_OPT_OFF);
}

// libldap reads a TCP connection without a buffer: ber_get_next asks the socket for each LDAP
// message's tag and length, then for the rest, and ldap_result polls before each message, so
// a 100,000-entry search costs 300,000 system calls. liblber's read-ahead layer (which libldap
// itself stacks only on UDP: "Support for readahead (UDP needs it)") reads what has arrived in
// blocks of `size` bytes and tells ldap_result, through LBER_SB_OPT_DATA_READY, that a message
// is already buffered. It goes just above the TCP layer and below TLS or SASL, which stay on top.
static inline int cldap_add_readahead(LDAP *ld, int size) {
    Sockbuf *sb = NULL;
    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL) return -1;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_readahead) == 1) return 0;
    return ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER, &size);
}

/// What an interactive SASL bind answers when Cyrus SASL asks (NULL: let SASL use its default).
typedef struct cldap_sasl_defaults {
    const char *mech;
    const char *realm;
    const char *authcid;
    const char *passwd;
    const char *authzid;
} cldap_sasl_defaults;

// The LDAP_SASL_INTERACT_PROC handed to ldap_sasl_interactive_bind_s: fills each prompt from
// cldap_sasl_defaults, as ldapsearch's lutil_sasl_interact does, but never reads a terminal.
static int cldap_sasl_interact(LDAP *ld, unsigned flags, void *defaults, void *in) {
    (void)ld; (void)flags;
    cldap_sasl_defaults *d = (cldap_sasl_defaults *)defaults;
    sasl_interact_t *interact = (sasl_interact_t *)in;
    for (; interact != NULL && interact->id != SASL_CB_LIST_END; interact++) {
        const char *value = NULL;
        switch (interact->id) {
        case SASL_CB_GETREALM: value = d ? d->realm : NULL; break;
        case SASL_CB_AUTHNAME: value = d ? d->authcid : NULL; break;
        case SASL_CB_PASS: value = d ? d->passwd : NULL; break;
        case SASL_CB_USER: value = d ? d->authzid : NULL; break;
        default: break;
        }
        if (value == NULL || *value == '\0') value = interact->defresult;
        if (value == NULL) value = "";
        interact->result = value;
        interact->len = (unsigned)strlen(value);
    }
    return LDAP_SUCCESS;
}

static inline int cldap_sasl_interactive_bind(LDAP *ld, const char *dn, const char *mech,
                                              cldap_sasl_defaults *defaults) {
    return ldap_sasl_interactive_bind_s(ld, dn, mech, NULL, NULL, LDAP_SASL_QUIET,
                                        cldap_sasl_interact, defaults);
}


// An entry's attributes walked in place. ldap_get_attribute_ber(3) hands out each attribute's
// values as an array it allocates, which the caller frees: two calls into malloc per attribute
// of every entry, 1.2 million for 100,000 users of 12 attributes. Here the values stay in the
// message's buffer and a second BerElement, allocated once (ber_alloc_t) and pointed at each
// attribute's values in turn (ber_init2, which copies nothing), reads them into an array the
// caller keeps from entry to entry.
//
// RFC 4511, section 4.1.7: PartialAttribute ::= SEQUENCE { type AttributeDescription,
// vals SET OF value AttributeValue }. After ldap_get_dn_ber, `ber` stands before the first.
//
// The next attribute: its description in `name` and the contents of its SET of values in `vals`.
// Returns 1, or 0 when the entry has no more (the test ldap_get_attribute_ber makes: no bytes
// remain), or -1 when the message does not decode.
static inline int cldap_next_attribute(BerElement *ber, struct berval *name, struct berval *vals) {
    ber_len_t remaining = 0;
    if (ber_get_option(ber, LBER_OPT_BER_REMAINING_BYTES, &remaining) != LBER_OPT_SUCCESS) return -1;
    if (remaining == 0) return 0;
    if (ber_scanf(ber, "{m", name) == LBER_ERROR) return -1;
    if (ber_skip_element(ber, vals) == LBER_DEFAULT) return -1;
    return 1;
}

// Reads the values `vals` holds (from cldap_next_attribute) into `out`, at most `capacity` of
// them, in place and not NUL-terminated, as ldap_get_attribute_ber gives them. Returns how many
// there are: when that is more than `capacity`, call again with room for them all.
static inline ber_len_t cldap_read_values(BerElement *reader, struct berval *vals, struct berval *out, ber_len_t capacity) {
    struct berval skipped;
    ber_len_t count = 0;
    ber_init2(reader, vals, 0);
    while (ber_get_stringbv(reader, count < capacity ? &out[count] : &skipped, LBER_BV_NOTERM) != LBER_DEFAULT) count++;
    return count;
}

#endif
