/* kube_config.h — where the Kubernetes API server is and how to authenticate to it.
 *
 * Owns: reading kubeconfig files (one, or a $KUBECONFIG-style colon-separated list merged the way kubectl
 * merges them: the first file that defines a name or current-context wins), the in-cluster service-account
 * configuration, and the bearer token's lifetime (a token file is re-read when it may have rotated).
 *
 * Supported in a kubeconfig: current-context (or an explicit context); clusters[].cluster.server,
 * certificate-authority / certificate-authority-data, insecure-skip-tls-verify; users[].user.token,
 * tokenFile, client-certificate / client-certificate-data, client-key / client-key-data, username/password;
 * contexts[].context.namespace. Relative file paths are resolved against the kubeconfig's own directory.
 * `exec` and `auth-provider` users are refused with a clear error (the controller runs no plugins).
 *
 * Every file is hostile input: sizes are bounded (TG_KUBE_MAX_FILE_BYTES), base64 is decoded strictly and
 * errors name the file and the field.
 */
#ifndef TG_KUBE_CONFIG_H
#define TG_KUBE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define TG_KUBE_MAX_FILE_BYTES (4u << 20)
/* How long a token read from a file is trusted before the file is read again (kubelet rotates projected
 * service-account tokens well before they expire; client-go re-reads them on the same period). */
#define TG_KUBE_TOKEN_REREAD_MS 60000u
#define TG_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct tg_kube_config {
    char server[1024];             /* scheme://host[:port][/prefix], no trailing '/' */
    char context[256];             /* context used ("in-cluster" for the service account) */
    char namespace_[256];          /* context namespace or the pod's namespace; "" when unset */
    int insecure_skip_tls_verify;
    char *ca_pem;                  /* CA bundle (PEM) to verify the server with; NULL = system store */
    size_t ca_pem_len;
    char *client_cert_pem;         /* client certificate (PEM) or NULL */
    size_t client_cert_pem_len;
    char *client_key_pem;          /* its private key (PEM) or NULL */
    size_t client_key_pem_len;
    char *username, *password;     /* basic auth, or NULL */
    char *token;                   /* bearer token (static, or the last one read from token_file) or NULL */
    char token_file[4096];         /* "" when the token is static */
    uint64_t token_read_ms;        /* monotonic time token_file was last read */
};

/* Loads a kubeconfig. paths: one path or a colon-separated list (merged like kubectl). context: NULL for the
 * current-context. Returns 0, or -1 with a message naming the file and field in err. */
int tg_kube_config_load_kubeconfig(struct tg_kube_config *cfg, const char *paths, const char *context,
                                   char *err, size_t errlen);

/* Loads the in-cluster configuration: the API server at https://HOST:PORT (IPv6 literals are bracketed),
 * the CA from SA_DIR/ca.crt, the token from SA_DIR/token (re-read on rotation) and the namespace from
 * SA_DIR/namespace. Returns 0 or -1 with err. */
int tg_kube_config_load_in_cluster(struct tg_kube_config *cfg, const char *sa_dir, const char *host,
                                   const char *port, char *err, size_t errlen);

/* The controller's choice, in client-go's order: the --kubeconfig flag, else $KUBECONFIG, else in-cluster
 * when KUBERNETES_SERVICE_HOST is set, else ~/.kube/config. */
int tg_kube_config_load_default(struct tg_kube_config *cfg, const char *kubeconfig_flag, char *err,
                                size_t errlen);

/* The bearer token to send now, or NULL when the config has none. A token file is re-read when the last
 * read is older than TG_KUBE_TOKEN_REREAD_MS, or at once when force is set (after a 401). A failed re-read
 * keeps the previous token (and logs once). */
const char *tg_kube_config_token(struct tg_kube_config *cfg, int force);

void tg_kube_config_free(struct tg_kube_config *cfg);


#endif
