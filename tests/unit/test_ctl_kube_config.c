/* test_ctl_kube_config.c — kubeconfig parsing (data and file forms, merging, errors), in-cluster config,
 * token rotation, strict base64. Works on real files in a temporary directory. */
#include "base64.h"
#include "kube/kube_config.h"
#include "tg_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static const char *path_of(const char *name)
{
    static char path[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(path[i], sizeof path[i], "%s/%s", dir, name);
    return path[i];
}

static void test_base64(void)
{
    size_t n;
    char *s = tg_base64_decode_alloc("aGVsbG8=", 8, &n);
    CHECK(s && n == 5 && strcmp(s, "hello") == 0);
    free(s);
    s = tg_base64_decode_alloc("aGVs\nbG8h", 9, &n);
    CHECK(s && n == 6 && strcmp(s, "hello!") == 0);
    free(s);
    s = tg_base64_decode_alloc("", 0, &n);
    CHECK(s && n == 0);
    free(s);
    CHECK(tg_base64_decode_alloc("aGVsbG8", 7, &n) == NULL);   /* truncated quantum */
    CHECK(tg_base64_decode_alloc("aGV$bG8=", 8, &n) == NULL);  /* bad character */
    CHECK(tg_base64_decode_alloc("aG=sbG8=", 8, &n) == NULL);  /* data after padding */
    CHECK(tg_base64_decode_alloc("aGVsbG9=", 8, &n) == NULL);  /* non-zero trailing bits */
    CHECK(tg_base64_decode_alloc("a===", 4, &n) == NULL);
}

static void test_data_fields(void)
{
    /* "CA PEM" / "CERT PEM" / "KEY PEM" in base64 */
    write_file("kc1", "apiVersion: v1\n"
                      "kind: Config\n"
                      "current-context: dev\n"
                      "clusters:\n"
                      "- name: c1\n"
                      "  cluster:\n"
                      "    server: https://127.0.0.1:6443/\n"
                      "    certificate-authority-data: Q0EgUEVN\n"
                      "contexts:\n"
                      "- name: dev\n"
                      "  context: {cluster: c1, user: u1, namespace: apis}\n"
                      "- name: other\n"
                      "  context: {cluster: c1, user: u2}\n"
                      "users:\n"
                      "- name: u1\n"
                      "  user:\n"
                      "    client-certificate-data: Q0VSVCBQRU0=\n"
                      "    client-key-data: S0VZIFBFTQ==\n"
                      "- name: u2\n"
                      "  user:\n"
                      "    token: abc.def\n");
    struct tg_kube_config cfg;
    char err[1024];
    int rc = tg_kube_config_load_kubeconfig(&cfg, path_of("kc1"), NULL, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ_STR(cfg.server, "https://127.0.0.1:6443");
    CHECK_EQ_STR(cfg.context, "dev");
    CHECK_EQ_STR(cfg.namespace_, "apis");
    CHECK_EQ_STR(cfg.ca_pem, "CA PEM");
    CHECK_EQ_INT(cfg.ca_pem_len, 6);
    CHECK_EQ_STR(cfg.client_cert_pem, "CERT PEM");
    CHECK_EQ_STR(cfg.client_key_pem, "KEY PEM");
    CHECK(cfg.token == NULL);
    CHECK(tg_kube_config_token(&cfg, 0) == NULL);
    CHECK_EQ_INT(cfg.insecure_skip_tls_verify, 0);
    tg_kube_config_free(&cfg);

    rc = tg_kube_config_load_kubeconfig(&cfg, path_of("kc1"), "other", err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 0), "abc.def");
    CHECK_EQ_STR(cfg.namespace_, "");
    CHECK(cfg.client_cert_pem == NULL);
    tg_kube_config_free(&cfg);

    CHECK_EQ_INT(tg_kube_config_load_kubeconfig(&cfg, path_of("kc1"), "nope", err, sizeof err), -1);
    CHECK(strstr(err, "context \"nope\" not found") != NULL);
}

static void test_file_fields_and_token_rotation(void)
{
    mkdir(path_of("sub"), 0700);
    write_file("sub/ca.crt", "FILE CA\n");
    write_file("sub/token", "tok-1\n");
    write_file("sub/kc2", "current-context: x\n"
                          "clusters:\n"
                          "- name: c\n"
                          "  cluster:\n"
                          "    server: https://[::1]:6443\n"
                          "    certificate-authority: ca.crt\n"
                          "contexts:\n"
                          "- name: x\n"
                          "  context: {cluster: c, user: u}\n"
                          "users:\n"
                          "- name: u\n"
                          "  user: {tokenFile: token}\n");
    struct tg_kube_config cfg;
    char err[1024];
    int rc = tg_kube_config_load_kubeconfig(&cfg, path_of("sub/kc2"), NULL, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ_STR(cfg.server, "https://[::1]:6443");
    CHECK_EQ_STR(cfg.ca_pem, "FILE CA\n");
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 0), "tok-1");
    /* Rotation: the file changes; within the period the cached token is used, after it (or forced) the new. */
    write_file("sub/token", "tok-2");
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 0), "tok-1");
    cfg.token_read_ms -= TG_KUBE_TOKEN_REREAD_MS + 1;
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 0), "tok-2");
    write_file("sub/token", "tok-3");
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 1), "tok-3");
    /* A failed re-read keeps the previous token. */
    unlink(path_of("sub/token"));
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 1), "tok-3");
    tg_kube_config_free(&cfg);
}

static void test_insecure_and_merge(void)
{
    write_file("m1", "current-context: ctx\n"
                     "contexts:\n"
                     "- name: ctx\n"
                     "  context: {cluster: c, user: u}\n");
    write_file("m2", "current-context: ignored\n"
                     "clusters:\n"
                     "- name: c\n"
                     "  cluster: {server: 'https://kube.example:443', insecure-skip-tls-verify: true}\n"
                     "users:\n"
                     "- name: u\n"
                     "  user: {username: admin, password: secret}\n");
    char list[1200];
    snprintf(list, sizeof list, "%s:%s:%s", path_of("m1"), path_of("missing-is-skipped"), path_of("m2"));
    struct tg_kube_config cfg;
    char err[1024];
    int rc = tg_kube_config_load_kubeconfig(&cfg, list, NULL, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ_STR(cfg.context, "ctx");
    CHECK_EQ_STR(cfg.server, "https://kube.example:443");
    CHECK_EQ_INT(cfg.insecure_skip_tls_verify, 1);
    CHECK_EQ_STR(cfg.username, "admin");
    CHECK_EQ_STR(cfg.password, "secret");
    tg_kube_config_free(&cfg);
}

static void expect_error(const char *name, const char *text, const char *needle)
{
    write_file(name, text);
    struct tg_kube_config cfg;
    char err[1024] = "";
    int rc = tg_kube_config_load_kubeconfig(&cfg, path_of(name), NULL, err, sizeof err);
    CHECK_EQ_INT(rc, -1);
    if (!strstr(err, needle)) {
        fprintf(stderr, "%s: error \"%s\" lacks \"%s\"\n", name, err, needle);
        CHECK(0);
    }
    if (rc == 0)
        tg_kube_config_free(&cfg);
}

static void test_errors(void)
{
    const char *head = "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n";
    char buf[2048];
    snprintf(buf, sizeof buf, "%sclusters:\n- name: c\n  cluster: {server: 'https://a', "
                              "certificate-authority-data: '%%%%'}\n", head);
    expect_error("e1", buf, "certificate-authority-data is not valid base64");
    snprintf(buf, sizeof buf, "%sclusters:\n- name: c\n  cluster: {certificate-authority-data: QQ==}\n", head);
    expect_error("e2", buf, "server is required");
    snprintf(buf, sizeof buf, "%sclusters:\n- name: c\n  cluster: {server: 'ftp://a'}\n", head);
    expect_error("e3", buf, "must start with https://");
    snprintf(buf, sizeof buf,
             "%sclusters:\n- name: c\n  cluster: {server: 'https://a'}\nusers:\n- name: u\n  user:\n"
             "    exec: {command: aws}\n", head);
    expect_error("e4", buf, "exec and auth-provider credentials are not supported");
    snprintf(buf, sizeof buf,
             "%sclusters:\n- name: c\n  cluster: {server: 'https://a'}\nusers:\n- name: u\n  user:\n"
             "    client-certificate-data: QQ==\n", head);
    expect_error("e5", buf, "client-certificate and client-key go together");
    snprintf(buf, sizeof buf,
             "%sclusters:\n- name: c\n  cluster: {server: 'https://a'}\nusers:\n- name: u\n  user:\n"
             "    client-key: /nonexistent/key.pem\n    client-certificate-data: QQ==\n", head);
    expect_error("e6", buf, "/nonexistent/key.pem");
    expect_error("e7", "clusters: [\n", "invalid YAML");
    expect_error("e8", "clusters: []\n", "no current-context");
    snprintf(buf, sizeof buf, "%sclusters:\n- name: other\n  cluster: {server: 'https://a'}\n", head);
    expect_error("e9", buf, "cluster \"c\" not found");
    snprintf(buf, sizeof buf,
             "%sclusters:\n- name: c\n  cluster: {server: 'https://a', insecure-skip-tls-verify: maybe}\n", head);
    expect_error("e10", buf, "insecure-skip-tls-verify must be true or false");

    struct tg_kube_config cfg;
    char err[1024];
    CHECK_EQ_INT(tg_kube_config_load_kubeconfig(&cfg, path_of("does-not-exist"), NULL, err, sizeof err), -1);
    CHECK(strstr(err, "does-not-exist") != NULL);
}

static void test_in_cluster(void)
{
    mkdir(path_of("sa"), 0700);
    write_file("sa/ca.crt", "SA CA");
    write_file("sa/token", "sa-token-1\n");
    write_file("sa/namespace", "tollgate-system\n");
    struct tg_kube_config cfg;
    char err[1024];
    int rc = tg_kube_config_load_in_cluster(&cfg, path_of("sa"), "10.96.0.1", "443", err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ_STR(cfg.server, "https://10.96.0.1:443");
    CHECK_EQ_STR(cfg.namespace_, "tollgate-system");
    CHECK_EQ_STR(cfg.ca_pem, "SA CA");
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 0), "sa-token-1");
    write_file("sa/token", "sa-token-2\n");
    cfg.token_read_ms -= TG_KUBE_TOKEN_REREAD_MS;
    CHECK_EQ_STR(tg_kube_config_token(&cfg, 0), "sa-token-2");
    tg_kube_config_free(&cfg);

    rc = tg_kube_config_load_in_cluster(&cfg, path_of("sa"), "fd00::1", "6443", err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(cfg.server, "https://[fd00::1]:6443");
    tg_kube_config_free(&cfg);

    CHECK_EQ_INT(tg_kube_config_load_in_cluster(&cfg, path_of("sa"), "", "443", err, sizeof err), -1);
    CHECK_EQ_INT(tg_kube_config_load_in_cluster(&cfg, path_of("sa"), "h/x", "443", err, sizeof err), -1);
    CHECK_EQ_INT(tg_kube_config_load_in_cluster(&cfg, path_of("sa"), "h", "44x", err, sizeof err), -1);
    CHECK_EQ_INT(tg_kube_config_load_in_cluster(&cfg, path_of("nosa"), "h", "443", err, sizeof err), -1);
    CHECK(strstr(err, "ca.crt") != NULL);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/tg-kubecfg-XXXXXX");
    if (!mkdtemp(dir))
        return 2;
    test_base64();
    test_data_fields();
    test_file_fields_and_token_rotation();
    test_insecure_and_merge();
    test_errors();
    test_in_cluster();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
    TG_TEST_MAIN_END();
}
