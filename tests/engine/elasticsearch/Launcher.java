import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Starts a single-node Elasticsearch 8.19 from the jars on the classpath (no distribution, no Docker).
 *
 * <p>Usage: {@code java -cp CLASSES:JARS Launcher HOME HTTP_PORT [key=value ...]}. Extra arguments are
 * added to the node settings. With {@code -Dportalnews.exitOnStdinEof=true} the node shuts down when its
 * standard input reaches end of file, i.e. when the process that started it dies. The process handling
 * is in tests/engine/java/LauncherSupport.java, shared with the OpenSearch launcher.
 *
 * <p>Maven Central publishes only the server and the netty4 transport, so the node has no modules
 * besides that transport (no rest-root, analysis-common, lang-painless, reindex, mapper-extras, x-pack):
 * tests/engine/ELASTICSEARCH.md lists what that leaves out. Plugins are loaded from the classpath by
 * {@code org.elasticsearch.node.ClasspathNode}; the bootstrap (entitlements, bootstrap checks, jar hell)
 * is never run, as in Elasticsearch's own integration-test nodes.
 *
 * <p>Only loopback addresses are bound. Prints {@code READY http://127.0.0.1:PORT} once started; a
 * shutdown hook (SIGTERM, SIGINT) closes the node cleanly.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) {
        // Embedded is a nested class so that nothing from the engine is loaded before launch() has
        // set the system properties.
        LauncherSupport.launch(args, "es.set.netty.runtime.available.processors", a -> Embedded.run(a));
    }

    /** Everything that touches Elasticsearch classes. */
    static final class Embedded {
        private Embedded() {}

        static void run(String[] args) throws Exception {
            Path home = Paths.get(args[0]).toAbsolutePath();
            int httpPort = Integer.parseInt(args[1]);
            LauncherSupport.createHome(home);
            // The Elasticsearch logging API (org.elasticsearch.logging) needs its Log4j bridge;
            // log4j itself is configured by -Dlog4j2.configurationFile.
            org.elasticsearch.common.logging.LogConfigurator.configureESLogging();

            org.elasticsearch.common.settings.Settings.Builder builder = org.elasticsearch.common.settings.Settings.builder();
            for (Map.Entry<String, String> e : LauncherSupport.nodeSettings(home, httpPort, args).entrySet()) {
                builder.put(e.getKey(), e.getValue());
            }

            org.elasticsearch.env.Environment environment =
                org.elasticsearch.node.InternalSettingsPreparer.prepareEnvironment(
                    builder.build(), Collections.emptyMap(), null, () -> "node-1");

            List<Class<? extends org.elasticsearch.plugins.Plugin>> plugins =
                List.of(org.elasticsearch.transport.netty4.Netty4Plugin.class);

            final org.elasticsearch.node.Node node = new org.elasticsearch.node.ClasspathNode(environment, plugins);
            LauncherSupport.runUntilStopped("elasticsearch", httpPort, () -> {
                node.close();
                if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                    System.err.println("node did not close within 30s");
                }
            }, node::start);
        }
    }
}
