/* core/src/runtime/dns.h — the IPv4 addresses of an endpoint's host name,
 * asked of the configured DNS servers (resolver:) or of the system's
 * resolver. Blocking: called off the request path only (the main thread at
 * start and reload, the resolver thread of runtime/resilience.c). */
#ifndef BFF_RUNTIME_DNS_H
#define BFF_RUNTIME_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define DNS_MAX_ADDRS 16    /* addresses kept per name */
#define DNS_TIMEOUT_MS 1000 /* per server asked */

/* Fills @out (network order, sorted, no duplicates) with at most @cap
 * addresses of @host's A records. With @nservers servers (IPv4 UDP
 * addresses) each is asked in turn until one answers; with none,
 * getaddrinfo (AF_INET) decides. Returns how many (>= 1), 0 when the name
 * has no address (NXDOMAIN, no A record), or -1 when no server answered. */
int dns_lookup_a(const char *host, const struct sockaddr_in *servers, size_t nservers,
                 uint32_t *out, size_t cap);

/* The wire format, for dns_lookup_a and its tests. The query (id @id,
 * recursion desired, one question: @host, type A, class IN) into @q;
 * returns its length, or -1 when @host is no DNS name (empty, a label past
 * 63 bytes, longer than 253) or @cap is too small. */
int dns_query_a(const char *host, uint16_t id, uint8_t *q, size_t cap);
/* The A records of answer @m (@len bytes) to query @id into @out (at most
 * @cap, sorted, no duplicates). Returns the count; 0 for NXDOMAIN or an
 * answer without A record; -1 for an answer not to be used (not ours, not
 * an answer, SERVFAIL or REFUSED, cut inside its question). Every length
 * and name pointer is checked against @len; records past a cut are
 * ignored. */
int dns_parse_a(const uint8_t *m, size_t len, uint16_t id, uint32_t *out, size_t cap);

#endif
