/*
 * The JVM peer that `make bench` measures side by side with election: Apache
 * Curator's LeaderLatch (Debian's libcurator-recipes-java 5.4.0) driving the same
 * work. The bench compiles it with Debian's javac into its work directory; it is
 * never committed compiled.
 *
 * Takes election's settings under the same flag names, writes the same files
 * (election-<token, 19 digits>-<counter, 10 digits>.json holding
 * {"counter","host","pid","replica","time","token"} and a newline) with the same
 * durability (temporary file, write, fsync, oldest files removed down to capacity,
 * rename, fsync of the directory), and logs its transitions in the same logfmt
 * shape (msg=transition from=... to=...) so that the one harness drives all sides.
 *
 * Written as a competent user would: one CuratorFramework, one LeaderLatch for the
 * life of the process (the latch itself takes part again after a lost session), a
 * listener that wakes the worker, and writes only while hasLeadership() holds and
 * the client is connected (Curator's default error policy drops leadership on
 * SUSPENDED, as its documentation asks of a leader). The fencing token is the
 * sequence number of the latch's own znode: it grows with every candidate created
 * under the election path and is known without a round trip (the czxid would cost
 * one between the watch firing and the first write).
 *
 * What it does not do, because the recipe cannot: resume a session after a crash,
 * or fence a write against a paused process.
 *
 * SIGTERM or SIGINT: stop writing, close the latch (deletes its znode), close the
 * session, exit 0. A second signal exits at once (128 + signal).
 *
 * Run: java -cp BUILD:/usr/share/java/curator-recipes.jar:/usr/share/java/slf4j-nop.jar CuratorElection run ...
 */

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;

public final class CuratorElection {
    static final Pattern FILE_RE = Pattern.compile("^election-(\\d{19})-(\\d{10})\\.json$");
    static final String TEMP_PREFIX = ".election-tmp+";
    static final DateTimeFormatter ISO =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    // ---- flags -------------------------------------------------------------
    String zkServers;
    String replicaId;
    String electionPath = "/election";
    String fileDir = "/tmp/election";
    long leaderTimeoutNs = 10_000_000_000L;
    long sessionTimeoutMs = 10_000;
    int capacity = 10;

    static long duration(String text) {
        Matcher m = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m|h)").matcher(text);
        double total = 0;
        int pos = 0;
        while (m.find()) {
            if (m.start() != pos) break;
            double unit = switch (m.group(2)) {
                case "ms" -> 1e6;
                case "s" -> 1e9;
                case "m" -> 60e9;
                default -> 3600e9;
            };
            total += Double.parseDouble(m.group(1)) * unit;
            pos = m.end();
        }
        if (pos != text.length() || total <= 0) throw new IllegalArgumentException("bad duration " + text);
        return (long) total;
    }

    // ---- logfmt, as the other drivers log ------------------------------------
    static synchronized void log(String level, String msg, String... kv) {
        StringBuilder b = new StringBuilder();
        b.append("ts=").append(ISO.format(Instant.now())).append(" level=").append(level).append(" msg=").append(msg);
        TreeMap<String, String> fields = new TreeMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) fields.put(kv[i], kv[i + 1]);
        for (var e : fields.entrySet()) {
            String v = e.getValue();
            boolean quote = v.isEmpty() || v.chars().anyMatch(c -> Character.isWhitespace(c) || c == '=' || c == '"');
            b.append(' ').append(e.getKey()).append('=').append(quote ? '"' + v.replace("\"", "\\\"") + '"' : v);
        }
        b.append('\n');
        System.err.print(b);
        System.err.flush();
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    // ---- the files: election's FileStore, the same names, content and syscalls --
    final class FileStore {
        final Path dir;

        FileStore() {
            dir = Paths.get(fileDir);
        }

        void prepare() throws IOException {
            Files.createDirectories(dir);
            Path probe = dir.resolve(TEMP_PREFIX + replicaId + "+probe.tmp");
            try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(ByteBuffer.wrap("probe\n".getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            } finally {
                Files.deleteIfExists(probe);
            }
            String mine = TEMP_PREFIX + replicaId + "+";
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path p : ds) {
                    String n = p.getFileName().toString();
                    if (n.startsWith(mine) && n.endsWith(".tmp")) Files.deleteIfExists(p);
                }
            }
        }

        /** [token, counter] of every election file, oldest first, with its name. */
        List<Object[]> files() throws IOException {
            List<Object[]> found = new ArrayList<>();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path p : ds) {
                    Matcher m = FILE_RE.matcher(p.getFileName().toString());
                    if (m.matches()) {
                        found.add(new Object[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2)),
                                p.getFileName().toString()});
                    }
                }
            }
            found.sort((a, b) -> {
                int c = Long.compare((Long) a[0], (Long) b[0]);
                return c != 0 ? c : Long.compare((Long) a[1], (Long) b[1]);
            });
            return found;
        }

        long nextCounter(long token) throws IOException {
            long max = 0;
            for (Object[] f : files()) if ((Long) f[0] == token) max = Math.max(max, (Long) f[1]);
            return max + 1;
        }

        void write(long token, long counter, byte[] content) throws IOException {
            List<Object[]> existing = files();
            if (!existing.isEmpty() && (Long) existing.get(existing.size() - 1)[0] > token) {
                throw new IOException(dir + " holds a file of fencing token " + existing.get(existing.size() - 1)[0]
                        + ", newer than ours");
            }
            String name = String.format("election-%019d-%010d.json", token, counter);
            Path temp = dir.resolve(TEMP_PREFIX + replicaId + "+" + token + "-" + counter + ".tmp");
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                ByteBuffer buf = ByteBuffer.wrap(content);
                while (buf.hasRemaining()) ch.write(buf);
                ch.force(true); // fsync
            } catch (IOException e) {
                Files.deleteIfExists(temp);
                throw e;
            }
            existing.removeIf(f -> f[2].equals(name));
            while (existing.size() >= capacity) {
                Object[] oldest = existing.remove(0);
                try {
                    Files.delete(dir.resolve((String) oldest[2]));
                } catch (NoSuchFileException ignored) {
                }
            }
            try {
                Files.move(temp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE); // rename(2)
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException(e);
            }
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true); // fsync of the directory
            }
        }
    }

    // ---- the replica ----------------------------------------------------------
    final Object monitor = new Object();
    volatile boolean stopping;
    volatile String stopReason = "";
    String state = "Init";
    String host;
    long pid;

    void transition(String to, String reason, String... extra) {
        String[] kv = new String[extra.length + 8];
        kv[0] = "replica";
        kv[1] = replicaId;
        kv[2] = "from";
        kv[3] = state;
        kv[4] = "to";
        kv[5] = to;
        kv[6] = "reason";
        kv[7] = reason;
        System.arraycopy(extra, 0, kv, 8, extra.length);
        log("info", "transition", kv);
        state = to;
    }

    void wake() {
        synchronized (monitor) {
            monitor.notifyAll();
        }
    }

    static long sequenceOf(String path) {
        int i = path.length();
        while (i > 0 && Character.isDigit(path.charAt(i - 1))) i--;
        return Long.parseLong(path.substring(i));
    }

    int run() throws Exception {
        host = InetAddress.getLocalHost().getHostName();
        pid = ProcessHandle.current().pid();
        FileStore store = new FileStore();
        try {
            store.prepare();
        } catch (IOException e) {
            log("error", "file-dir unusable", "replica", replicaId, "error", String.valueOf(e));
            return 1;
        }
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(zkServers)
                .sessionTimeoutMs((int) sessionTimeoutMs)
                .connectionTimeoutMs((int) Math.min(sessionTimeoutMs, 15_000))
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000))
                .build();
        client.getConnectionStateListenable().addListener((c, s) -> {
            if (s != ConnectionState.CONNECTED && s != ConnectionState.RECONNECTED) {
                log("warning", "connection", "replica", replicaId, "state", s.name());
            }
            wake();
        });
        client.start();
        while (!stopping && !client.blockUntilConnected(1, TimeUnit.SECONDS)) {
            log("warning", "ZooKeeper unavailable", "replica", replicaId);
        }
        if (stopping) {
            client.close();
            return 0;
        }
        String identity = "{\"host\":" + json(host) + ",\"pid\":" + pid + ",\"replica\":" + json(replicaId) + "}";
        LeaderLatch latch = new LeaderLatch(client, electionPath, identity, LeaderLatch.CloseMode.SILENT);
        latch.addListener(new LeaderLatchListener() {
            @Override
            public void isLeader() {
                wake();
            }

            @Override
            public void notLeader() {
                wake();
            }
        });
        transition("Attempter", String.format("resources ready (session 0x%x)",
                client.getZookeeperClient().getZooKeeper().getSessionId()));
        latch.start();
        int status = 0;
        try {
            while (!stopping) {
                synchronized (monitor) {
                    while (!stopping && !latch.hasLeadership()) monitor.wait();
                }
                if (stopping) break;
                String ours = latch.getOurPath();
                if (ours == null) continue;
                long token = sequenceOf(ours);
                transition("Leader", "lowest candidate " + ours.substring(ours.lastIndexOf('/') + 1)
                        + " (fencing token " + token + ")", "token", Long.toString(token));
                long counter = store.nextCounter(token);
                long nextWrite = System.nanoTime();
                while (!stopping && latch.hasLeadership() && client.getZookeeperClient().isConnected()) {
                    long now = System.nanoTime();
                    if (now >= nextWrite) {
                        long millis = System.currentTimeMillis();
                        String content = "{\"counter\":" + counter + ",\"host\":" + json(host) + ",\"pid\":" + pid
                                + ",\"replica\":" + json(replicaId) + ",\"time\":\"" + ISO.format(Instant.ofEpochMilli(millis))
                                + "\",\"token\":" + token + "}\n";
                        store.write(token, counter, content.getBytes(StandardCharsets.UTF_8));
                        counter++;
                        nextWrite += leaderTimeoutNs;
                        if (nextWrite <= System.nanoTime()) nextWrite = System.nanoTime() + leaderTimeoutNs;
                    }
                    synchronized (monitor) {
                        long wait = nextWrite - System.nanoTime();
                        if (wait > 0 && !stopping && latch.hasLeadership()) {
                            monitor.wait(wait / 1_000_000, (int) (wait % 1_000_000));
                        }
                    }
                }
                if (!stopping) transition("Attempter", "leadership lost");
            }
        } catch (IOException e) {
            log("error", "leader failed", "replica", replicaId, "error", String.valueOf(e));
            status = 1;
        }
        transition("Stopping", stopReason.isEmpty() ? "leader failed" : stopReason);
        try {
            latch.close(); // deletes the latch's znode
        } catch (Exception e) {
            log("warning", "closing the latch", "replica", replicaId, "error", String.valueOf(e));
        }
        client.close(); // closes the session: the server deletes what is left at once
        log("info", "stopped", "replica", replicaId);
        return status;
    }

    @SuppressWarnings("removal")
    public static void main(String[] argv) throws Exception {
        CuratorElection r = new CuratorElection();
        try {
            r.replicaId = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            r.replicaId = "localhost";
        }
        int i = 0;
        if (i < argv.length && argv[i].equals("run")) i++;
        for (; i < argv.length; i++) {
            String flag = argv[i];
            if (i + 1 >= argv.length) {
                System.err.println("curator-election: " + flag + " needs a value");
                System.exit(64);
            }
            String v = argv[++i];
            switch (flag) {
                case "--zk-servers" -> r.zkServers = v;
                case "--replica-id" -> r.replicaId = v;
                case "--election-path" -> r.electionPath = v;
                case "--file-dir" -> r.fileDir = v;
                case "--leader-timeout" -> r.leaderTimeoutNs = duration(v);
                case "--session-timeout" -> r.sessionTimeoutMs = duration(v) / 1_000_000;
                case "--storage-capacity" -> r.capacity = Integer.parseInt(v);
                case "--attempter-timeout" -> duration(v); // accepted for the same command line
                default -> {
                    System.err.println("curator-election: unknown flag " + flag);
                    System.exit(64);
                }
            }
        }
        if (r.zkServers == null || r.capacity < 1) {
            System.err.println("curator-election: --zk-servers is required and --storage-capacity must be >= 1");
            System.exit(64);
        }
        log("info", "starting", "replica", r.replicaId, "state", "Init", "implementation", "Curator LeaderLatch",
                "jvm", ManagementFactory.getRuntimeMXBean().getVmVersion());
        for (String name : new String[] {"TERM", "INT"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> {
                if (r.stopping) Runtime.getRuntime().halt(128 + sig.getNumber()); // a second signal: out at once
                r.stopReason = "signal SIG" + sig.getName();
                r.stopping = true;
                r.wake();
            });
        }
        int status = r.run();
        System.exit(status);
    }
}
