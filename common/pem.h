/* pem.h — reading PEM text (certificates, chains, CA bundles, CRLs, private keys) from memory, the one way every
 * binary does it: an encrypted key is refused (never prompted for), a list of certificates or CRLs is bounded, and
 * the reason of a failure is OpenSSL's last error as text. Shared by the data plane (served certificates, upstream
 * TLS) and the controller (Secret validation). */
#ifndef TG_PEM_H
#define TG_PEM_H

#include <openssl/x509.h>
#include <stddef.h>

/* The certificates of pem, in order, at most max of them (a caller that must refuse "more than N" asks for N + 1).
 * NULL when none could be read (or out of memory): tg_pem_reason() then says why. On success the error queue is
 * clear (the end of the text reads as "no start line"). */
STACK_OF(X509) *tg_pem_read_certs(const char *pem, size_t max);

/* The first certificate of pem (the leaf) into *cert and the next ones, at most max_chain, into *chain (an empty
 * stack when there are none); 0, or -1 with both NULL and tg_pem_reason() saying why. */
int tg_pem_read_cert_chain(const char *pem, size_t max_chain, X509 **cert, STACK_OF(X509) **chain);

/* The certificate revocation lists (PEM "X509 CRL" blocks) of pem, in order, at most max of them, as
 * tg_pem_read_certs: NULL (tg_pem_reason() says why) when none could be read. */
STACK_OF(X509_CRL) *tg_pem_read_crls(const char *pem, size_t max);
/* The most CRLs one revocation list text may hold (a proxy's target.tls crlPem, the CA Secret's ca.crl): the
 * controller refuses more than the data plane would take, from this one number. */
#define TG_PEM_MAX_CRLS 64

/* The first private key of pem, unencrypted only; NULL with tg_pem_reason() saying why. */
EVP_PKEY *tg_pem_read_key(const char *pem);

/* OpenSSL's last error as text ("no PEM block" when there is none), clearing the queue. Per thread, valid until the
 * next call. */
const char *tg_pem_reason(void);

#endif
