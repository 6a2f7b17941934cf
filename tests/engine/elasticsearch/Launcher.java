import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Starts a single-node Elasticsearch 8.19 from the jars on the classpath (no distribution, no Docker).
 *
 * <p>Usage: {@code java -cp CLASSES:JARS Launcher HOME HTTP_PORT [key=value ...]}. Extra arguments are
 * added to the node settings. With {@code -Dportalnews.exitOnStdinEof=true} the node shuts down when its
 * standard input reaches end of file, i.e. when the process that started it dies.
 *
 * <p>Maven Central publishes only the server and the netty4 transport, so the node has no modules
 * besides that transport (no analysis-common, lang-painless, reindex, mapper-extras, x-pack):
 * tests/engine/ELASTICSEARCH.md lists what that leaves out. Plugins are loaded from the classpath by
 * {@code org.elasticsearch.node.ClasspathNode}; the bootstrap (security manager or entitlements,
 * bootstrap checks, jar hell) is never run, as in Elasticsearch's own integration-test nodes.
 *
 * <p>Only loopback addresses are bound. Prints {@code READY http://127.0.0.1:PORT} once started; a
 * shutdown hook (SIGTERM, SIGINT) closes the node cleanly.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Launcher HOME HTTP_PORT [key=value ...]");
            System.exit(2);
        }
        // These must be set before any Elasticsearch, Netty or Log4j class is initialised.
        System.setProperty("es.set.netty.runtime.available.processors", "false");
        System.setProperty("log4j2.disable.jmx", "true");
        System.setProperty("log4j.shutdownHookEnabled", "false");
        // Kept in a nested class so that nothing from Elasticsearch is loaded before the lines above run.
        try {
            Embedded.run(args);
        } catch (Throwable t) {
            System.err.println("FAILED " + t);
            t.printStackTrace();
            System.err.flush();
            // Node threads are not daemons: exit explicitly (the shutdown hook closes what was built).
            System.exit(1);
        }
    }

    /** Everything that touches Elasticsearch classes. */
    static final class Embedded {
        private Embedded() {}

        static void run(String[] args) throws Exception {
            Path home = Paths.get(args[0]).toAbsolutePath();
            int httpPort = Integer.parseInt(args[1]);
            for (String sub : new String[] {"config", "data", "logs", "modules", "plugins"}) {
                Files.createDirectories(home.resolve(sub));
            }
            // The Elasticsearch logging API (org.elasticsearch.logging) needs its Log4j bridge;
            // log4j itself is configured by -Dlog4j2.configurationFile.
            org.elasticsearch.common.logging.LogConfigurator.configureESLogging();

            org.elasticsearch.common.settings.Settings.Builder builder =
                org.elasticsearch.common.settings.Settings.builder()
                    .put("path.home", home.toString())
                    .put("path.data", home.resolve("data").toString())
                    .put("path.logs", home.resolve("logs").toString())
                    .put("cluster.name", "portalnews-test")
                    .put("node.name", "node-1")
                    .put("discovery.type", "single-node")
                    .put("network.host", "127.0.0.1")
                    .put("http.port", Integer.toString(httpPort))
                    .put("transport.port", Integer.toString(freeLoopbackPort()))
                    .put("cluster.routing.allocation.disk.threshold_enabled", "false");
            for (int i = 2; i < args.length; i++) {
                int eq = args[i].indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("expected key=value, got: " + args[i]);
                }
                builder.put(args[i].substring(0, eq), args[i].substring(eq + 1));
            }

            org.elasticsearch.env.Environment environment =
                org.elasticsearch.node.InternalSettingsPreparer.prepareEnvironment(
                    builder.build(), Collections.emptyMap(), null, () -> "node-1");

            List<Class<? extends org.elasticsearch.plugins.Plugin>> plugins =
                List.of(org.elasticsearch.transport.netty4.Netty4Plugin.class);

            final org.elasticsearch.node.Node node = new org.elasticsearch.node.ClasspathNode(environment, plugins);
            final CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    node.close();
                    if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                        System.err.println("node did not close within 30s");
                    }
                } catch (IOException | InterruptedException e) {
                    e.printStackTrace();
                } finally {
                    stopped.countDown();
                }
                System.out.println("STOPPED");
                System.out.flush();
            }, "portalnews-elasticsearch-shutdown"));

            node.start();
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
                }, "portalnews-elasticsearch-stdin-watchdog");
                watchdog.setDaemon(true);
                watchdog.start();
            }
            stopped.await();
        }

        private static int freeLoopbackPort() throws IOException {
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                return socket.getLocalPort();
            }
        }
    }
}
