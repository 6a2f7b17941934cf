import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * What the OpenSearch and the Elasticsearch test launchers share (compiled with each of them, see
 * tests/engine/jvm_node.py): the node's HOME folders, its settings (defaults and the key=value
 * arguments), a free loopback port, and running a started node until SIGTERM or, with
 * {@code -Dportalnews.exitOnStdinEof=true}, until standard input closes because the parent process died.
 */
final class LauncherSupport {
    private LauncherSupport() {}

    /** Closes a node and waits for it; the engines' Node classes differ only in their package. */
    interface Stoppable {
        void closeAndWait() throws IOException, InterruptedException;
    }

    /** Starts a node. */
    interface Starter {
        void start() throws Exception;
    }

    /** The part of a launcher that touches the engine's classes. */
    interface Body {
        void run(String[] args) throws Exception;
    }

    /**
     * A launcher's {@code main}: checks the arguments, sets the system properties that must be set before
     * any engine, Netty or Log4j class is initialised ({@code nettyProcessorsProperty} is the engine's
     * name for "do not let Netty count the processors"), then runs {@code body}, which must keep every
     * engine class out of the caller until it runs. Any failure exits with status 1.
     */
    static void launch(String[] args, String nettyProcessorsProperty, Body body) {
        if (args.length < 2) {
            System.err.println("usage: Launcher HOME HTTP_PORT [key=value ...]");
            System.exit(2);
        }
        System.setProperty(nettyProcessorsProperty, "false");
        System.setProperty("log4j2.disable.jmx", "true");
        System.setProperty("log4j.shutdownHookEnabled", "false");
        try {
            body.run(args);
        } catch (Throwable t) {
            System.err.println("FAILED " + t);
            t.printStackTrace();
            System.err.flush();
            // Node threads are not daemons: exit explicitly (the shutdown hook closes what was built).
            System.exit(1);
        }
    }

    static void createHome(Path home) throws IOException {
        for (String sub : new String[] {"config", "data", "logs", "modules", "plugins"}) {
            Files.createDirectories(home.resolve(sub));
        }
    }

    /**
     * The node settings: a single node on loopback under {@code home} (disk thresholds off, so a
     * nearly full disk never makes indices read-only), then the {@code key=value} arguments from
     * {@code args[2]} on, which override them (a cluster member sets discovery.type, node.name …).
     */
    static Map<String, String> nodeSettings(Path home, int httpPort, String[] args) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        out.put("path.home", home.toString());
        out.put("path.data", home.resolve("data").toString());
        out.put("path.logs", home.resolve("logs").toString());
        out.put("cluster.name", "portalnews-test");
        out.put("node.name", "node-1");
        out.put("discovery.type", "single-node");
        out.put("network.host", "127.0.0.1");
        out.put("http.port", Integer.toString(httpPort));
        out.put("transport.port", Integer.toString(freeLoopbackPort()));
        out.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("expected key=value, got: " + args[i]);
            }
            out.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        return out;
    }

    static int freeLoopbackPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /**
     * Installs the shutdown hook that stops {@code node}, calls {@code start}, prints
     * {@code READY http://127.0.0.1:PORT} and blocks until the node is stopped.
     */
    static void runUntilStopped(String name, int httpPort, Stoppable node, Starter start) throws Exception {
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.closeAndWait();
            } catch (IOException | InterruptedException e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
            System.out.println("STOPPED");
            System.out.flush();
        }, "portalnews-" + name + "-shutdown"));

        start.start();
        System.out.println("READY http://127.0.0.1:" + httpPort);
        System.out.flush();

        if (Boolean.getBoolean("portalnews.exitOnStdinEof")) {
            Thread watchdog = new Thread(() -> {
                try {
                    InputStream in = System.in;
                    byte[] buf = new byte[256];
                    while (in.read(buf) >= 0) {
                        // discard; we only wait for end of file
                    }
                } catch (IOException ignored) {
                    // treat a broken stdin like end of file
                }
                System.err.println("stdin closed: parent process is gone, shutting down");
                System.exit(0);
            }, "portalnews-" + name + "-stdin-watchdog");
            watchdog.setDaemon(true);
            watchdog.start();
        }
        stopped.await();
    }
}
