/* SPDX-License-Identifier: MIT */
/* test_config: INI + overrides into gs_server_cfg, errors with file, line and key; topics; b64. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blake3.h"
#include "check.h"
#include "config.h"
#include "control.h"

static const char *write_tmp(const char *text)
{
    static char path[] = "/tmp/gs_test_config_XXXXXX";
    int fd;

    strcpy(path, "/tmp/gs_test_config_XXXXXX");
    fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        return NULL;
    }
    close(fd);
    return path;
}

static void test_file(void)
{
    static gs_server_cfg cfg;
    gs_cfg_errors errs = {0};
    const char *path =
        write_tmp("[node]\n"
                  "listen = 127.0.0.1:5000, [::1]:5001\n"
                  "shards = 3\n"
                  "join = 00000000000000000000000000000000000000000000000000000000000000ff\n"
                  "join = chat\n"
                  "[relay]\n"
                  "enabled = yes\n"
                  "max_topics = 7\n"
                  "[protocol]\n"
                  "shuffle_interval_ms = 1500\n");

    CHECK(path != NULL);
    gs_server_cfg_default(&cfg);
    CHECK(gs_server_cfg_load_file(&cfg, path, &errs) == 0);
    CHECK(errs.n == 0);
    CHECK(cfg.nlisten == 2);
    CHECK(cfg.shards == 3);
    CHECK(cfg.relay && cfg.relay_max_topics == 7);
    CHECK(cfg.node.shuffle_interval == 1500 * GS_MILLISECONDS);
    CHECK(cfg.njoin == 2);
    CHECK(cfg.join[0].id.b[31] == 0xff && cfg.join[0].name[0] == '\0');
    {
        uint8_t h[32];

        gs_blake3_hash("chat", 4, h);
        CHECK(memcmp(cfg.join[1].id.b, h, 32) == 0 && strcmp(cfg.join[1].name, "chat") == 0);
    }
    /* the command line's first value replaces the file's list; later ones append */
    CHECK(gs_server_cfg_set(&cfg, "node.listen", "127.0.0.1:0", "--listen", -2, &errs) == 0);
    CHECK(cfg.nlisten == 1);
    CHECK(gs_server_cfg_set(&cfg, "node.join", "a topic with spaces", "--join", -2, &errs) == 0);
    CHECK(cfg.njoin == 1 && strcmp(cfg.join[0].name, "a topic with spaces") == 0);
    CHECK(gs_server_cfg_validate(&cfg, &errs) == 0);
    CHECK(cfg.node.bcast_policy == GS_BCAST_REFERENCE && !cfg.node.rtt_timeouts);
    CHECK(gs_server_cfg_set(&cfg, "protocol.broadcast_policy", "many", "--set", -2, &errs) == 0);
    CHECK(gs_server_cfg_set(&cfg, "protocol.rtt_timeouts", "true", "--set", -2, &errs) == 0);
    CHECK(gs_server_cfg_validate(&cfg, &errs) == 0);
    CHECK(cfg.node.bcast_policy == GS_BCAST_MANY && cfg.node.rtt_timeouts);
    unlink(path);
}

static void test_errors(void)
{
    static gs_server_cfg cfg;
    gs_cfg_errors errs = {0};
    const char *path = write_tmp("[node]\n"
                                 "shards = many\n"
                                 "\n"
                                 "bogus = 1\n"
                                 "[limits]\n"
                                 "send_queue_low = 99999999999\n"
                                 "[relay]\n"
                                 "backbone = nothex@1.2.3.4:5\n");

    gs_server_cfg_default(&cfg);
    CHECK(gs_server_cfg_load_file(&cfg, path, &errs) == GS_ERR_INVAL);
    CHECK(errs.n == 4);
    CHECK(strstr(errs.msg[0], ":2: node.shards:") != NULL);
    CHECK(strstr(errs.msg[1], ":4: node.bogus: unknown key") != NULL);
    CHECK(strstr(errs.msg[2], ":6: limits.send_queue_low:") != NULL);
    CHECK(strstr(errs.msg[3], ":8: relay.backbone:") != NULL);
    unlink(path);
    /* cross-key rule */
    gs_server_cfg_default(&cfg);
    errs.n = 0;
    CHECK(gs_server_cfg_set(&cfg, "limits.send_queue_low", "9000000", "--set", 2, &errs) == 0);
    CHECK(gs_server_cfg_validate(&cfg, &errs) == GS_ERR_INVAL);
    CHECK(errs.n == 1 && strstr(errs.msg[0], "limits.send_queue_low") != NULL);
    /* a missing file is an error, not a crash */
    errs.n = 0;
    CHECK(gs_server_cfg_load_file(&cfg, "/nonexistent/gossipd.conf", &errs) == GS_ERR_INVAL);
    CHECK(errs.n == 1);
}

/* protocol.broadcast_policy and protocol.rtt_timeouts: file, overrides, errors, printing, and
 * the values the shards' gs_node_cfg gets. */
static void test_policy(void)
{
    static gs_server_cfg cfg;
    gs_cfg_errors errs = {0};
    const char *path = write_tmp("[protocol]\n"
                                 "broadcast_policy = many\n"
                                 "rtt_timeouts = true\n");
    char *text = NULL;
    size_t textlen = 0;

    gs_server_cfg_default(&cfg);
    CHECK(cfg.node.bcast_policy == GS_BCAST_REFERENCE && !cfg.node.rtt_timeouts);
    CHECK(path != NULL);
    CHECK(gs_server_cfg_load_file(&cfg, path, &errs) == 0 && errs.n == 0);
    CHECK(cfg.node.bcast_policy == GS_BCAST_MANY && cfg.node.rtt_timeouts);
    CHECK(gs_server_cfg_validate(&cfg, &errs) == 0);
    {
        /* the file's two keys give exactly gs_node_cfg_many_publishers */
        gs_server_cfg ref;
        gs_server_cfg_default(&ref);
        gs_node_cfg_many_publishers(&ref.node);
        CHECK(memcmp(&ref.node, &cfg.node, sizeof(ref.node)) == 0);
    }
    /* --check-config shows both */
    FILE *f = open_memstream(&text, &textlen);
    CHECK(f != NULL);
    gs_server_cfg_print(&cfg, f);
    fclose(f);
    CHECK(strstr(text, "\nbroadcast_policy = many\n") != NULL);
    CHECK(strstr(text, "\nrtt_timeouts = true\n") != NULL);
    free(text);
    unlink(path);
    /* the command line overrides the file */
    CHECK(gs_server_cfg_set(&cfg, "protocol.broadcast_policy", "reference", "--broadcast-policy",
                            -2, &errs) == 0);
    CHECK(gs_server_cfg_set(&cfg, "protocol.rtt_timeouts", "false", "--rtt-timeouts", -2, &errs) ==
          0);
    CHECK(cfg.node.bcast_policy == GS_BCAST_REFERENCE && !cfg.node.rtt_timeouts);
    CHECK(errs.n == 0);
    /* bad values: file, line and key named; the old value stays */
    path = write_tmp("[protocol]\n"
                     "broadcast_policy = Many\n"
                     "rtt_timeouts = sometimes\n"
                     "broadcast_policy =\n");
    CHECK(path != NULL);
    CHECK(gs_server_cfg_load_file(&cfg, path, &errs) == GS_ERR_INVAL);
    CHECK(errs.n == 3);
    CHECK(strstr(errs.msg[0], ":2: protocol.broadcast_policy: 'Many' is not reference or many") !=
          NULL);
    CHECK(strstr(errs.msg[1], ":3: protocol.rtt_timeouts: 'sometimes' is not a boolean") != NULL);
    CHECK(strstr(errs.msg[2], ":4: protocol.broadcast_policy:") != NULL);
    CHECK(cfg.node.bcast_policy == GS_BCAST_REFERENCE && !cfg.node.rtt_timeouts);
    unlink(path);
    errs.n = 0;
    CHECK(gs_server_cfg_set(&cfg, "protocol.broadcast_policy", "all", "--broadcast-policy", -2,
                            &errs) == GS_ERR_INVAL);
    CHECK(errs.n == 1 && strstr(errs.msg[0], "--broadcast-policy: protocol.broadcast_policy: "
                                             "'all' is not reference or many") != NULL);
}

/* control.thread: the three values, the default, printing, and a bad value that keeps the old */
static void test_control_thread(void)
{
    static gs_server_cfg cfg;
    gs_cfg_errors errs = {0};
    const char *path = write_tmp("[control]\n"
                                 "thread = own\n");
    char *text = NULL;
    size_t textlen = 0;

    gs_server_cfg_default(&cfg);
    CHECK(cfg.control_thread == GS_CTL_THREAD_AUTO);
    CHECK(path != NULL);
    CHECK(gs_server_cfg_load_file(&cfg, path, &errs) == 0 && errs.n == 0);
    CHECK(cfg.control_thread == GS_CTL_THREAD_OWN);
    unlink(path);
    CHECK(gs_server_cfg_set(&cfg, "control.thread", "shard", "--set", -2, &errs) == 0);
    CHECK(cfg.control_thread == GS_CTL_THREAD_SHARD);
    FILE *f = open_memstream(&text, &textlen);
    CHECK(f != NULL);
    gs_server_cfg_print(&cfg, f);
    fclose(f);
    CHECK(strstr(text, "\nthread = shard\n") != NULL);
    free(text);
    CHECK(gs_server_cfg_set(&cfg, "control.thread", "auto", "--set", -2, &errs) == 0);
    CHECK(cfg.control_thread == GS_CTL_THREAD_AUTO && errs.n == 0);
    CHECK(gs_server_cfg_set(&cfg, "control.thread", "shard0", "--set", -2, &errs) == GS_ERR_INVAL);
    CHECK(errs.n == 1 &&
          strstr(errs.msg[0], "control.thread: 'shard0' is not auto, own or shard") != NULL);
    CHECK(cfg.control_thread == GS_CTL_THREAD_AUTO);
}

static void test_parse(void)
{
    gs_cfg_peer p;
    gs_cfg_topic t;

    CHECK(gs_cfg_parse_peer(&p, "0000000000000000000000000000000000000000000000000000000000000001"
                                "@127.0.0.1:9") == 0);
    CHECK(p.id[31] == 1 && p.addr.len > 0);
    CHECK(gs_cfg_parse_peer(
              &p, "0000000000000000000000000000000000000000000000000000000000000001") == 0);
    CHECK(p.addr.len == 0);
    CHECK(gs_cfg_parse_peer(&p, "xyz@127.0.0.1:9") < 0);
    CHECK(gs_cfg_parse_peer(&p, "0000000000000000000000000000000000000000000000000000000000000001"
                                "@localhost:9") < 0);
    CHECK(gs_cfg_parse_topic(&t, "") < 0);
    CHECK(gs_cfg_parse_topic(&t, "x") == 0 && strcmp(t.name, "x") == 0);
}

static void test_b64(void)
{
    const uint8_t in[] = "any carnal pleas";
    char enc[64];
    uint8_t dec[64];

    for (size_t len = 0; len <= 16; ++len) {
        gs_b64_encode(in, len, enc);
        CHECK(strlen(enc) == (len + 2) / 3 * 4);
        CHECK(gs_b64_decode(enc, strlen(enc), dec) == (gs_ssize)len);
        CHECK(memcmp(dec, in, len) == 0);
    }
    gs_b64_encode((const uint8_t *)"any carnal pleasure", 19, enc);
    CHECK(strcmp(enc, "YW55IGNhcm5hbCBwbGVhc3VyZQ==") == 0);
    CHECK(gs_b64_decode("a$==", 4, dec) < 0);
    CHECK(gs_b64_decode("a", 1, dec) < 0);
}

int main(void)
{
    test_file();
    test_errors();
    test_policy();
    test_control_thread();
    test_parse();
    test_b64();
    CHECK_DONE();
}
