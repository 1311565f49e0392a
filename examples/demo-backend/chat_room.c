/* chat_room.c — the demo backend's broadcast chat room behind /chat/ws: members get ids (user1, user2, ...),
 * every text message goes to all members as "userN: text", joins and leaves are announced as
 * "* userN joined" / "* userN left", and a newcomer is told "* you are userN (K online)". A member whose
 * output queue grows past DEMO_CHAT_MAX_QUEUE (a reader that stopped reading) is dropped, so one slow member
 * cannot make the room hold unbounded memory.
 */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends one text frame with prefix + text to every member (including the sender). */
static void broadcast(struct chat_room *room, const char *prefix, const char *text, size_t len)
{
    size_t plen = strlen(prefix);
    uint8_t *frame = malloc(14 + plen + len);
    if (!frame)
        return;
    size_t hl = tg_ws_build_header(frame, TG_WS_TEXT, 1, 0, plen + len, NULL);
    memcpy(frame + hl, prefix, plen); // NOLINT(bugprone-not-null-terminated-result): frame bytes, not a string
    if (len)
        memcpy(frame + hl + plen, text, len);
    size_t flen = hl + plen + len;

    struct demo_conn *slow = NULL;
    for (struct demo_conn *m = room->head; m; m = m->chat_next) {
        if (m->dead || m->mode != DEMO_WS)
            continue;
        if (demo_conn_out_pending(m) > DEMO_CHAT_MAX_QUEUE) {
            if (!slow)
                slow = m;
            continue;
        }
        demo_conn_send(m, frame, flen);
    }
    free(frame);
    /* Drop one slow member after the loop (its leave notice is itself a broadcast); the others, if any, are
     * caught by the next message. */
    if (slow)
        demo_conn_close(slow);
}

void chat_join(struct chat_room *room, struct demo_conn *c)
{
    c->chat_id = ++room->next_id;
    if (c->chat_id == 0)
        c->chat_id = room->next_id = 1;
    c->chat_prev = NULL;
    c->chat_next = room->head;
    if (room->head)
        room->head->chat_prev = c;
    room->head = c;
    room->members++;

    char text[96];
    int n = snprintf(text, sizeof text, "* you are user%u (%zu online)", c->chat_id, room->members);
    uint8_t frame[128];
    size_t flen = tg_ws_build_frame(frame, TG_WS_TEXT, 1, (const uint8_t *)text, n > 0 ? (size_t)n : 0, NULL);
    demo_conn_send(c, frame, flen);
    snprintf(text, sizeof text, "* user%u joined", c->chat_id);
    broadcast(room, text, "", 0);
}

void chat_leave(struct chat_room *room, struct demo_conn *c)
{
    if (!c->chat_id)
        return;
    if (c->chat_prev)
        c->chat_prev->chat_next = c->chat_next;
    else
        room->head = c->chat_next;
    if (c->chat_next)
        c->chat_next->chat_prev = c->chat_prev;
    c->chat_prev = c->chat_next = NULL;
    room->members--;
    char text[64];
    snprintf(text, sizeof text, "* user%u left", c->chat_id);
    c->chat_id = 0;
    broadcast(room, text, "", 0);
}

void chat_say(struct chat_room *room, struct demo_conn *c, const char *text, size_t len)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "user%u: ", c->chat_id);
    broadcast(room, prefix, text, len);
}
