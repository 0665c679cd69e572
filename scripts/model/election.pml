/*
 * A finite model of the election protocol, checked with spin. See
 * docs/model.md for what it covers, what it leaves out and why; run it with
 * `make model` (scripts/model/check.sh).
 *
 * Replicas 0..N-1 each run a daemon; a leading daemon supervises one command
 * beside a watchdog process. ZooKeeper is one linearisable server: sessions,
 * ephemeral candidate znodes and their shadows. The file directory is reduced
 * to the highest fencing token published so far.
 *
 * Time is a global clock of ticks (the process Clock). Whatever carries time
 * is kept as an age or a countdown, capped, so the state space is finite. The
 * daemons and the server are never obliged to act: any of their steps may be
 * put off for any number of ticks, which is how a pause (SIGSTOP), a slow
 * network, a partition or a slow disk appears here. Only the watchdog and the
 * kernel are urgent: the clock does not tick while one of their deadlines is
 * due.
 *
 * A round trip to the server is one step, at the instant the server handles
 * it: the lease is counted from there (the real one counts from the moment the
 * request was sent, which is earlier, so the model's leader has at least the
 * rights of the real one); a slow reply is a pause after the step.
 *
 * Properties, as assertions (safety mode):
 *   P1 a command starts only while no other command is alive, so two are never
 *      alive at once (a command only ever appears by being started);
 *   P2 a file is published only when no file of a higher token was published
 *      before it.
 *
 * Variants, each a -D macro: NO_RESTART_WAIT, NO_SHADOW, NO_FILE_WAIT,
 * NO_LEASE_SYNC, LATE_SHADOW, SHADOW_DELETE, each described where it acts;
 * and the constants: MARGIN=0, OWAIT (the longest wait for an orphan shadow).
 * PROP=1 or PROP=2 checks only P1 or only P2.
 */

#ifndef PROP
#define PROP 0              /* the properties checked: 1: P1 only, 2: P2 only, 0: both */
#endif
#ifndef N
#define N 2                 /* replicas: 2 or 3 */
#endif
#ifndef T
#define T 4                 /* session timeout, in ticks */
#endif
#define HALF (T / 2)        /* the lease: a confirmation at c lets the leader act until c + T/2 */
#ifndef S
#define S 2                 /* --exec-stop-timeout: SIGKILL this long after SIGTERM */
#endif
#ifndef MARGIN
#define MARGIN 1            /* CommandTiming.margin */
#endif
/* CommandTiming.deadline: how long after a confirmation the watchdog lets the command run */
#define DEADLINE ((HALF < T - S - MARGIN) -> HALF : T - S - MARGIN)
#ifndef OWAIT
#define OWAIT T             /* how long a replica waits at most for an orphan shadow */
#endif
#ifndef MAXSEQ
#define MAXSEQ 4            /* candidates created in a run: sequence numbers 1..MAXSEQ */
#endif
/* faults and requests in a run */
#ifndef CRASHES
#define CRASHES 1           /* SIGKILL of a daemon (its watchdog and command live on) */
#endif
#ifndef HOSTDEATHS
#define HOSTDEATHS 1        /* a host dies: daemon, watchdog and command at once */
#endif
#ifndef DELETES
#define DELETES 1           /* an operator deletes a candidate znode */
#endif
#ifndef RESIGNS
#define RESIGNS 1           /* a clean release: resign request (exits of the command come on top) */
#endif
#ifndef STOPS
#define STOPS 1             /* a graceful stop (SIGTERM to the daemon) */
#endif

#define NONE 255

/* the daemon's phase */
#define DEAD     0          /* not running: crashed, host down, or stopped */
#define LOCKWAIT 1          /* started again: waits for the state file's lock */
#define INIT     2          /* resumes the session of its state file if alive, else opens one */
#define CAND     3          /* finds its candidate again by its prefix, or creates one */
#define SHADOW   4          /* creates the shadow of its candidate */
#define ATTEMPT  5          /* lists the candidates (and the shadows) behind a sync */
#define LEADER   6
#define STOPCMD  7          /* stops its command; once it is gone, does `cont` */

/* what follows STOPCMD */
#define C_RELEASE 1         /* delete candidate and shadow in one multi; compete again */
#define C_GONE    2         /* the candidate was deleted from outside: delete the shadow; compete again */
#define C_INIT    3         /* the session expired: a new one */
#define C_ATTEMPT 4         /* the lease lapsed (Failover): the same candidate again */
#define C_EXIT    5         /* graceful stop: close the session and exit */

/* the leader's pending file */
#define W_IDLE     0
#define W_COVERED  1        /* the first file of a term, covered by the listing */
#define W_PREPARED 2        /* covered, directory checked, temporary file written: the rename is next */

/* a command instance and its watchdog */
#define CMD_NONE 0
#define CMD_RUN  1
#define CMD_TERM 2          /* SIGTERM sent: it may end at any moment, at the latest at its SIGKILL */
#define WD_WATCH 1          /* fed deadlines through its pipe */
#define WD_STOP  2          /* stopping the group on its own: deadline passed, or the pipe closed */

/* ---- the ZooKeeper server ---- */
bool salive[N];             /* replica i's session is alive */
byte heard[N];              /* ticks since the server last heard from it, capped at T */
byte cand[N];               /* sequence number (= token) of its candidate znode, 0: none */
byte shad[N];               /* sequence number of its shadow znode, 0: none */
byte seq;                   /* the last sequence number handed out */

/* ---- the file directory ---- */
byte maxtok;                /* the highest token of a published file */

/* ---- the daemons ---- */
byte pc[N];
byte cont[N];
byte mine[N];               /* the candidate it holds, as it believes */
byte conf[N];               /* ticks since its newest confirmation, capped at HALF: HALF is no lease */
byte w[N];
byte term[N];               /* 0: no file yet this term, 1: a file published, 2: the command started */
byte oseq[N * N];           /* oseq[i*N+j]: the orphan shadow of j that i waits for, 0: none */
byte otim[N * N];           /* ticks left of that wait */

/* ---- commands and watchdogs: slot 2i is daemon i's, 2i+1 one a crashed daemon i left ---- */
byte cmd[2 * N];
byte wd[2 * N];
byte wdl[2 * N];            /* ticks to the watchdog's deadline */
byte kil[2 * N];            /* ticks to a pending SIGKILL, NONE: none */

/* ---- fault budgets used ---- */
byte crashes, hostdeaths, deletes, resigns, stops;

#ifdef NO_LEASE_SYNC
/* A follower cut off from the quorum answers reads from its frozen view.
 * Without the sync, a confirmation may be answered there. */
bool cut;
byte stcand[N];
#endif

#ifdef BFS
byte h;                     /* loop index inside d_steps (0 between steps); pan's BFS allows no hidden */
#else
hidden byte h;              /* loop index inside d_steps, not part of the state */
#endif

#define CUR(i)  (2 * (i))
#define ORPH(i) (2 * (i) + 1)

/* no candidate lower than i's own */
#define LOW(i, j) ((j) == (i) || cand[j] == 0 || cand[j] > mine[i])
/* i waits for no orphan shadow of j (j may be i itself): none seen, or the wait is over */
#define OC(i, j) (oseq[(i) * N + (j)] == 0 || otim[(i) * N + (j)] == 0)
/* the watchdog or the kernel must act before the clock moves on */
#define URG(k) (cmd[k] != CMD_NONE && ((wd[k] == WD_WATCH && (wdl[k] == 0 || (k) % 2 == 1)) || kil[k] == 0))
#if N == 2
#define LOWEST(i)        (LOW(i, 0) && LOW(i, 1))
#define ORPHANS_CLEAR(i) (OC(i, 0) && OC(i, 1))
#define URGENT           (URG(0) || URG(1) || URG(2) || URG(3))
#define NOCMD            (cmd[0] == CMD_NONE && cmd[1] == CMD_NONE && cmd[2] == CMD_NONE && cmd[3] == CMD_NONE)
#elif N == 3
#define LOWEST(i)        (LOW(i, 0) && LOW(i, 1) && LOW(i, 2))
#define ORPHANS_CLEAR(i) (OC(i, 0) && OC(i, 1) && OC(i, 2))
#define URGENT           (URG(0) || URG(1) || URG(2) || URG(3) || URG(4) || URG(5))
#define NOCMD            (cmd[0] == CMD_NONE && cmd[1] == CMD_NONE && cmd[2] == CMD_NONE && \
                          cmd[3] == CMD_NONE && cmd[4] == CMD_NONE && cmd[5] == CMD_NONE)
#else
#error "N must be 2 or 3"
#endif

#if defined(NO_SHADOW) || defined(NO_FILE_WAIT)
/* NO_SHADOW: no shadows at all. NO_FILE_WAIT: the protocol as first stated, and as
 * LeaderState does it: the command waits for orphan shadows, the first file does not */
#define MAYLEAD(i)  true
#else
/* the leadership as a whole, its first file too, waits for orphan shadows */
#define MAYLEAD(i)  ORPHANS_CLEAR(i)
#endif

/* Leaves the leadership: SIGTERM to the command (SIGKILL S ticks later); `c`
 * once it is gone. A prepared file is dropped, never renamed. */
#define STOP(i, c) \
    cont[i] = c; pc[i] = STOPCMD; w[i] = W_IDLE; term[i] = 0; conf[i] = HALF; \
    if \
    :: cmd[CUR(i)] == CMD_RUN -> cmd[CUR(i)] = CMD_TERM \
    :: else \
    fi; \
    if \
    :: cmd[CUR(i)] != CMD_NONE && (kil[CUR(i)] == NONE || kil[CUR(i)] > S) -> kil[CUR(i)] = S \
    :: else \
    fi

#define CLEAR_SLOT(k) cmd[k] = CMD_NONE; wd[k] = 0; wdl[k] = 0; kil[k] = NONE

/* The daemon process is gone, and all it held in memory. */
#define FORGET(i) \
    pc[i] = DEAD; cont[i] = 0; mine[i] = 0; conf[i] = HALF; w[i] = W_IDLE; term[i] = 0; \
    for (h : 0 .. N - 1) { oseq[(i) * N + h] = 0; otim[(i) * N + h] = 0 }; h = 0

/* What a read of the shadows and the candidates shows (C, SH): a shadow without
 * its candidate is an orphan, i's own included; i waits for it at most OWAIT
 * ticks from when it first saw it (from when the server answered: the real
 * wait counts from the reply, later). */
#define SEE(i, C, SH) \
    for (h : 0 .. N - 1) { \
        if \
        :: SH[h] != 0 && SH[h] != C[h] && SH[h] != oseq[(i) * N + h] -> \
           oseq[(i) * N + h] = SH[h]; otim[(i) * N + h] = OWAIT \
        :: SH[h] == 0 || SH[h] == C[h] -> \
           oseq[(i) * N + h] = 0; otim[(i) * N + h] = 0 \
        :: else \
        fi \
    }; h = 0

/* A confirmation came back: the lease and the watchdog's deadline restart. */
#define CONFIRMED(i) \
    conf[i] = 0; \
    if \
    :: cmd[CUR(i)] != CMD_NONE && wd[CUR(i)] == WD_WATCH -> wdl[CUR(i)] = DEADLINE \
    :: else \
    fi

/* The leader's file write, after its confirmation: FileStore lists the
 * directory and refuses when a file of a higher token is there (the leader
 * then releases); otherwise the temporary file is written. */
#define PREPARE(i) \
    if \
    :: maxtok > mine[i] -> printf("%c finds a newer file;", 65 + i); STOP(i, C_RELEASE) \
    :: else -> w[i] = W_PREPARED; printf("%c checks the directory, writes its temporary file;", 65 + i) \
    fi

/* One command instance k: its watchdog and the kernel. */
#define INSTANCE(k) \
    /* the watchdog: its deadline passed, or its pipe closed (the slot of a crashed daemon) */ \
    :: d_step { cmd[k] != CMD_NONE && wd[k] == WD_WATCH && (wdl[k] == 0 || (k) % 2 == 1) -> \
           wd[k] = WD_STOP; cmd[k] = CMD_TERM; \
           if :: kil[k] == NONE || kil[k] > S -> kil[k] = S :: else fi; \
           if \
           :: (k) % 2 == 1 -> printf("%c's watchdog: the daemon is gone, SIGTERM to the command;", 65 + (k) / 2) \
           :: else -> printf("%c's watchdog: deadline passed, SIGTERM to the command;", 65 + (k) / 2) \
           fi } \
    /* SIGKILL: the group is gone, and with it the watchdog and its lock */ \
    :: d_step { cmd[k] != CMD_NONE && kil[k] == 0 -> CLEAR_SLOT(k); printf("%c's command is SIGKILLed;", 65 + (k) / 2) } \
    /* after SIGTERM it may end before the SIGKILL */ \
    :: d_step { cmd[k] == CMD_TERM && kil[k] != 0 -> CLEAR_SLOT(k); printf("%c's command exits on SIGTERM;", 65 + (k) / 2) }

proctype Daemon(byte i)
{
    do
    /* ================= the server, for i's session and znodes ================= */
    /* expiry: not heard from for a session timeout (it may come later, never earlier);
     * the session's ephemerals go with it, at once */
    :: d_step { salive[i] && heard[i] >= T ->
           salive[i] = 0; heard[i] = 0; cand[i] = 0; shad[i] = 0; printf("%c's session expires;", 65 + i) }
    /* an operator deletes i's candidate */
    :: d_step { deletes < DELETES && cand[i] != 0 ->
           deletes++; printf("an operator deletes %c's candidate n%d;", 65 + i, cand[i]); cand[i] = 0 }
#ifdef SHADOW_DELETE
    /* ... and may delete a shadow too */
    :: d_step { deletes < DELETES && shad[i] != 0 ->
           deletes++; printf("an operator deletes %c's shadow n%d;", 65 + i, shad[i]); shad[i] = 0 }
#endif

    /* ================= i's command instances ================= */
    INSTANCE(CUR(i))
    INSTANCE(ORPH(i))

    /* ================= faults ================= */
    /* SIGKILL of the daemon: its command and watchdog live on; the pipe is closed */
    :: d_step { pc[i] != DEAD && crashes < CRASHES && cmd[ORPH(i)] == CMD_NONE ->
           crashes++; printf("%c's daemon is SIGKILLed;", 65 + i);
           cmd[ORPH(i)] = cmd[CUR(i)]; wd[ORPH(i)] = wd[CUR(i)]; wdl[ORPH(i)] = 0;
           /* a SIGKILL only the dead daemon would have sent is void */
           if :: wd[CUR(i)] == WD_STOP -> kil[ORPH(i)] = kil[CUR(i)] :: else -> kil[ORPH(i)] = NONE fi;
           CLEAR_SLOT(CUR(i));
           FORGET(i) }
    /* the host dies: daemon, watchdog and command; the session expires later */
    :: d_step { hostdeaths < HOSTDEATHS && (pc[i] != DEAD || cmd[ORPH(i)] != CMD_NONE) ->
           hostdeaths++; printf("%c's host dies;", 65 + i);
           CLEAR_SLOT(CUR(i)); CLEAR_SLOT(ORPH(i));
           FORGET(i) }
    /* the daemon is started again: systemd Restart=, the host back, an operator */
    :: d_step { pc[i] == DEAD -> printf("%c's daemon starts again;", 65 + i);
#ifdef NO_RESTART_WAIT
           pc[i] = INIT
#else
           pc[i] = LOCKWAIT
#endif
       }

    /* ================= the daemon ================= */
    /* the state file's lock: the watchdog of a crashed daemon holds it until its command is gone */
    :: d_step { pc[i] == LOCKWAIT && cmd[CUR(i)] == CMD_NONE && cmd[ORPH(i)] == CMD_NONE ->
           pc[i] = INIT; printf("%c gets the lock;", 65 + i) }

    /* Init: the session of the state file if it is alive, else a new one */
    :: d_step { pc[i] == INIT ->
           if
           :: salive[i] -> mine[i] = cand[i]; printf("%c resumes its session;", 65 + i)
           :: else -> salive[i] = 1; heard[i] = 0; mine[i] = 0
           fi;
           pc[i] = CAND }

    /* Attempter: a shadow of ours without its candidate goes first (no command of
     * ours runs: we stopped it, or waited for the lock); then the candidate */
    /* (the replicas are alike, so replica A creates the first candidate: every run
     * where B does is one of these with the names swapped, and a fifth of the
     * states go) */
    :: d_step { pc[i] == CAND && (!salive[i] || cand[i] != 0 || seq < MAXSEQ && (seq > 0 || i == 0)) ->
           if
           :: !salive[i] -> pc[i] = INIT
           :: else ->
              heard[i] = 0;
              if :: shad[i] != 0 && shad[i] != cand[i] -> shad[i] = 0 :: else fi;
              if :: cand[i] == 0 -> seq++; cand[i] = seq; printf("%c creates candidate n%d;", 65 + i, seq) :: else fi;
              mine[i] = cand[i];
#if defined(NO_SHADOW) || defined(LATE_SHADOW)
              pc[i] = ATTEMPT
#else
              pc[i] = SHADOW
#endif
           fi }

#ifndef NO_SHADOW
    /* the shadow, right after the candidate: before any listing that may make us
     * leader. LATE_SHADOW: only after the listing that showed us lowest (whose
     * lease then covers the first file and the command) */
    :: d_step { pc[i] == SHADOW ->
           if
           :: !salive[i] -> pc[i] = INIT; conf[i] = HALF
           :: else ->
              heard[i] = 0;
              if :: shad[i] != mine[i] -> printf("%c creates shadow n%d;", 65 + i, mine[i]) :: else fi;
              shad[i] = mine[i];
#ifdef LATE_SHADOW
              pc[i] = LEADER; w[i] = W_COVERED
#else
              pc[i] = ATTEMPT
#endif
           fi }
#endif

    /* a listing of the candidates behind a sync, and of the shadows */
    :: d_step { pc[i] == ATTEMPT ->
           if
           :: !salive[i] -> pc[i] = INIT
           :: salive[i] && cand[i] != mine[i] -> pc[i] = CAND
           :: else ->
              heard[i] = 0;
              if
              :: LOWEST(i) ->
                 SEE(i, cand, shad);
                 if
                 :: MAYLEAD(i) ->
                    /* the listing is the confirmation of the first file */
                    conf[i] = 0; term[i] = 0; printf("%c lists: lowest, leads with token %d;", 65 + i, mine[i]);
#ifdef LATE_SHADOW
                    pc[i] = SHADOW
#else
                    pc[i] = LEADER; w[i] = W_COVERED
#endif
                 :: else ->         /* orphans to wait for: list again later */
                    printf("%c lists: lowest, waits for an orphan shadow;", 65 + i)
                 fi
              :: else
              fi
           fi }

    /* Leader: a confirmation (sync + exists of the own candidate, owner = our session),
     * to renew the lease, or for a file that fell due (which is written after it) */
    :: d_step { pc[i] == LEADER && w[i] == W_IDLE ->
           if
           :: !salive[i] -> STOP(i, C_INIT)
           :: salive[i] && cand[i] != mine[i] -> STOP(i, C_GONE)
           :: else -> heard[i] = 0; CONFIRMED(i); printf("%c confirms;", 65 + i)
           fi }
    :: d_step { pc[i] == LEADER && w[i] == W_IDLE ->
           if
           :: !salive[i] -> STOP(i, C_INIT)
           :: salive[i] && cand[i] != mine[i] -> STOP(i, C_GONE)
           :: else -> heard[i] = 0; CONFIRMED(i);
              printf("%c confirms for a file;", 65 + i); PREPARE(i)
           fi }
#ifdef NO_LEASE_SYNC
    /* without the sync the cut-off follower may answer, from its view, and the quorum
     * hears nothing of it */
    :: d_step { pc[i] == LEADER && w[i] == W_IDLE && cut && stcand[i] == mine[i] ->
           CONFIRMED(i); printf("%c confirms at the cut-off follower;", 65 + i) }
    :: d_step { pc[i] == LEADER && w[i] == W_IDLE && cut && stcand[i] == mine[i] ->
           CONFIRMED(i);
           printf("%c confirms for a file at the cut-off follower;", 65 + i); PREPARE(i) }
#endif
    /* the first file of a term: covered by the listing */
    :: d_step { pc[i] == LEADER && w[i] == W_COVERED ->
           if
           :: conf[i] >= HALF -> STOP(i, C_ATTEMPT)
           :: else -> PREPARE(i)
           fi }
    /* stillPermitted and the rename that publishes the file, as one step (a pause
     * between the two is a known limit: README, "Out of reach") */
    :: d_step { pc[i] == LEADER && w[i] == W_PREPARED ->
           if
           :: conf[i] < HALF ->
#if PROP != 1
              assert(mine[i] >= maxtok);      /* P2 */
#endif
              maxtok = mine[i]; w[i] = W_IDLE; printf("%c publishes a file of token %d;", 65 + i, mine[i]);
              if :: term[i] == 0 -> term[i] = 1 :: else fi
           :: else -> STOP(i, C_ATTEMPT)      /* notPermitted: Failover */
           fi }
    /* the command starts after the term's first file, while the lease holds, once
     * no orphan shadow is left (its own counts too) or the wait for it is over:
     * the shadows are read just before (OrphanWait.check) */
    :: d_step { pc[i] == LEADER && w[i] == W_IDLE && term[i] == 1 && conf[i] < HALF ->
#ifndef NO_SHADOW
           SEE(i, cand, shad);
#endif
           if
           :: ORPHANS_CLEAR(i) ->
#if PROP != 2
              assert(NOCMD);                  /* P1 */
#endif
              term[i] = 2; printf("%c starts its command;", 65 + i);
              cmd[CUR(i)] = CMD_RUN; wd[CUR(i)] = WD_WATCH; kil[CUR(i)] = NONE;
              wdl[CUR(i)] = DEADLINE - conf[i]
           :: else -> printf("%c waits for an orphan shadow before its command;", 65 + i)
           fi }
    /* events, seen between writes: the session expired, the own candidate deleted
     * (the watch), the command ended (--on-exit resign) */
    :: d_step { pc[i] == LEADER && w[i] == W_IDLE &&
                (!salive[i] || cand[i] != mine[i] || (term[i] == 2 && cmd[CUR(i)] == CMD_NONE)) ->
           if
           :: !salive[i] -> STOP(i, C_INIT); printf("%c learns its session expired;", 65 + i)
           :: salive[i] && cand[i] != mine[i] -> STOP(i, C_GONE); printf("%c sees its candidate deleted;", 65 + i)
           :: else -> STOP(i, C_RELEASE); printf("%c sees its command exit;", 65 + i)
           fi }
    /* a resign request */
    :: d_step { pc[i] == LEADER && w[i] == W_IDLE && resigns < RESIGNS -> resigns++; STOP(i, C_RELEASE); printf("%c resigns;", 65 + i) }
    /* a stop signal (a write in flight completes first) */
    :: d_step { (pc[i] == LEADER && w[i] == W_IDLE || pc[i] == ATTEMPT) && stops < STOPS ->
           stops++; STOP(i, C_EXIT); printf("%c gets a stop signal;", 65 + i) }

    /* the command is gone (or there was none): what ending the leadership asked for */
    :: d_step { pc[i] == STOPCMD && cmd[CUR(i)] == CMD_NONE ->
           if
           :: cont[i] == C_RELEASE && salive[i] ->
              /* one multi: the candidate (unless already gone) and the shadow */
              if :: cand[i] == mine[i] -> cand[i] = 0 :: else fi;
              shad[i] = 0; pc[i] = CAND; heard[i] = 0; printf("%c deletes its candidate and shadow;", 65 + i)
           :: cont[i] == C_GONE && salive[i] ->
              /* only now may the shadow go */
              shad[i] = 0; pc[i] = CAND; heard[i] = 0; printf("%c deletes its shadow;", 65 + i)
           :: (cont[i] == C_RELEASE || cont[i] == C_GONE) && !salive[i] -> pc[i] = INIT
           :: cont[i] == C_INIT -> pc[i] = INIT
           :: cont[i] == C_ATTEMPT -> pc[i] = ATTEMPT
           :: cont[i] == C_EXIT ->
              /* closing the session deletes its ephemerals at once */
              if :: salive[i] -> salive[i] = 0; heard[i] = 0; cand[i] = 0; shad[i] = 0 :: else fi;
              printf("%c closes its session and exits;", 65 + i);
              FORGET(i)
           fi;
           cont[i] = 0;
           if :: pc[i] != ATTEMPT -> mine[i] = 0 :: else fi }
    od
}

proctype Clock()
{
    do
    /* a tick, when nothing urgent is due */
    :: d_step { !URGENT ->
           for (h : 0 .. N - 1) {
               if :: salive[h] && heard[h] < T -> heard[h]++ :: else fi;
               if :: conf[h] < HALF -> conf[h]++ :: else fi
           }
           for (h : 0 .. N * N - 1) {
               if :: otim[h] > 0 -> otim[h]-- :: else fi
           }
           for (h : 0 .. 2 * N - 1) {
               if :: cmd[h] != CMD_NONE && wd[h] == WD_WATCH && wdl[h] > 0 -> wdl[h]-- :: else fi;
               if :: kil[h] != NONE && kil[h] > 0 -> kil[h]-- :: else fi
           }; h = 0; printf("tick;") }
#ifdef NO_LEASE_SYNC
    /* a follower is cut off from the quorum, with its view of the moment */
    :: d_step { !cut ->
           cut = 1; printf("a follower is cut off from the quorum;");
           for (h : 0 .. N - 1) { stcand[h] = cand[h] }; h = 0 }
#endif
    od
}

init {
    d_step {
        for (h : 0 .. N - 1) { pc[h] = INIT; conf[h] = HALF }
        for (h : 0 .. 2 * N - 1) { kil[h] = NONE }; h = 0
    }
    atomic {
        run Daemon(0); run Daemon(1);
#if N == 3
        run Daemon(2);
#endif
        run Clock()
    }
}
