/* sessions.c — see sessions.h. */
#include "proxy/sessions.h"

#include <arpa/inet.h>
#include <string.h>

int tg_session_set_client_ip(struct tg_session *s, const char *text)
{
    memset(&s->client, 0, sizeof s->client);
    if (!text || !text[0])
        return 0;
    /* inet_pton, not tg_ip_parse: an IPv4-mapped IPv6 address stays IPv6 so that it reads back as written.
     * IPv4 takes only the dotted quad inet_ntop writes (four decimal parts ≤ 255, no leading zeros: the unit test
     * pins it), so it reads back the same without formatting it here (a handshake's cost); IPv6 has several text
     * forms of one address: checked by formatting it back. */
    if (inet_pton(AF_INET, text, s->client.addr) == 1) {
        s->client.family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, text, s->client.addr) == 1)
        s->client.family = 6;
    char back[TG_IP_TEXT_MAX];
    tg_session_client_ip(s, back);
    if (strcmp(back, text) == 0)
        return 0;
    memset(&s->client, 0, sizeof s->client); /* not in inet_ntop's form: none rather than another text */
    return -1;
}

void tg_session_client_ip(const struct tg_session *s, char *out)
{
    if (s->client.family == 4 || s->client.family == 6)
        tg_ip_format(&s->client, out);
    else
        out[0] = '\0';
}

void tg_session_list_init(struct tg_session_list *l)
{
    pthread_mutex_init(&l->lock, NULL);
    l->head = NULL;
    l->count = 0;
}

void tg_session_list_destroy(struct tg_session_list *l) { pthread_mutex_destroy(&l->lock); }

void tg_session_list_add(struct tg_session_list *l, struct tg_session *s)
{
    pthread_mutex_lock(&l->lock);
    s->prev = NULL;
    s->next = l->head;
    if (l->head)
        l->head->prev = s;
    l->head = s;
    l->count++;
    pthread_mutex_unlock(&l->lock);
}

void tg_session_list_remove(struct tg_session_list *l, struct tg_session *s)
{
    pthread_mutex_lock(&l->lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        l->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    l->count--;
    pthread_mutex_unlock(&l->lock);
}

size_t tg_session_list_count(struct tg_session_list *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->count;
    pthread_mutex_unlock(&l->lock);
    return n;
}

void tg_session_list_each(struct tg_session_list *l, void (*fn)(void *arg, const struct tg_session *s), void *arg)
{
    pthread_mutex_lock(&l->lock);
    for (const struct tg_session *s = l->head; s; s = s->next)
        fn(arg, s);
    pthread_mutex_unlock(&l->lock);
}
