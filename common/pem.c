/* pem.c — see pem.h. */
#include "pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1; /* an encrypted key is refused, never prompted for */
}

/* The PEM blocks of one kind in pem (read_one reads the next of them, skipping blocks of other kinds), at most max;
 * NULL, with the reason in the error queue, when there is none. */
static OPENSSL_STACK *read_blocks(const char *pem, size_t max, void *(*read_one)(BIO *), void (*free_one)(void *))
{
    ERR_clear_error();
    OPENSSL_STACK *blocks = OPENSSL_sk_new_null();
    BIO *bio = blocks ? BIO_new_mem_buf(pem, -1) : NULL;
    void *block;
    while (bio && (size_t)OPENSSL_sk_num(blocks) < max && (block = read_one(bio)) != NULL)
        if (!OPENSSL_sk_push(blocks, block)) {
            free_one(block);
            break;
        }
    BIO_free(bio);
    if (!blocks || OPENSSL_sk_num(blocks) == 0) {
        OPENSSL_sk_free(blocks);
        return NULL; /* the queue keeps the reason */
    }
    ERR_clear_error();
    return blocks;
}

static void *read_cert(BIO *bio) { return PEM_read_bio_X509(bio, NULL, no_password, NULL); }
static void free_cert(void *cert) { X509_free(cert); }
static void *read_crl(BIO *bio) { return PEM_read_bio_X509_CRL(bio, NULL, no_password, NULL); }
static void free_crl(void *crl) { X509_CRL_free(crl); }

STACK_OF(X509) *tg_pem_read_certs(const char *pem, size_t max)
{
    return (STACK_OF(X509) *)read_blocks(pem, max, read_cert, free_cert);
}

STACK_OF(X509_CRL) *tg_pem_read_crls(const char *pem, size_t max)
{
    return (STACK_OF(X509_CRL) *)read_blocks(pem, max, read_crl, free_crl);
}

int tg_pem_read_cert_chain(const char *pem, size_t max_chain, X509 **cert, STACK_OF(X509) **chain)
{
    *cert = NULL;
    *chain = tg_pem_read_certs(pem, max_chain < (size_t)-1 ? max_chain + 1 : max_chain);
    if (!*chain)
        return -1;
    *cert = sk_X509_shift(*chain);
    return 0;
}

EVP_PKEY *tg_pem_read_key(const char *pem)
{
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL) : NULL;
    BIO_free(bio);
    return key;
}

const char *tg_pem_reason(void)
{
    static _Thread_local char text[160];
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, text, sizeof text);
    else
        snprintf(text, sizeof text, "no PEM block");
    ERR_clear_error();
    return text;
}
