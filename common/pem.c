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

STACK_OF(X509) *tg_pem_read_certs(const char *pem, size_t max)
{
    ERR_clear_error();
    STACK_OF(X509) *certs = sk_X509_new_null();
    BIO *bio = certs ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *x;
    while (bio && (size_t)sk_X509_num(certs) < max && (x = PEM_read_bio_X509(bio, NULL, no_password, NULL)) != NULL)
        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            break;
        }
    BIO_free(bio);
    if (!certs || sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        return NULL; /* the queue keeps the reason */
    }
    ERR_clear_error();
    return certs;
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
