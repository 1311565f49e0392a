/* sessions.c — see sessions.h. */
#include "proxy/sessions.h"

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
