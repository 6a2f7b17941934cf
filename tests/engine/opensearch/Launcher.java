import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Starts a single-node OpenSearch 2.19 from the jars on the classpath (no distribution, no Docker).
 *
 * <p>Usage: {@code java -cp CLASSES:JARS Launcher HOME HTTP_PORT [key=value ...]}. Extra arguments are
 * added to the node settings (a cluster member overrides discovery.type, node.name, transport.port …).
 * With {@code -Dportalnews.exitOnStdinEof=true} the node shuts down when its standard input reaches end
 * of file, i.e. when the process that started it dies. The process handling is in
 * tests/engine/java/LauncherSupport.java, shared with the Elasticsearch launcher.
 *
 * <p>Only loopback addresses are bound. Prints {@code READY http://127.0.0.1:PORT} once started; a
 * shutdown hook (SIGTERM, SIGINT) closes the node cleanly.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) {
        // Embedded is a nested class so that nothing from the engine is loaded before launch() has
        // set the system properties.
        LauncherSupport.launch(args, "opensearch.set.netty.runtime.available.processors", a -> Embedded.run(a));
    }

    /** Everything that touches OpenSearch classes. */
    static final class Embedded {
        private Embedded() {}

        static void run(String[] args) throws Exception {
            Path home = Paths.get(args[0]).toAbsolutePath();
            int httpPort = Integer.parseInt(args[1]);
            LauncherSupport.createHome(home);

            org.opensearch.common.settings.Settings.Builder builder = org.opensearch.common.settings.Settings.builder();
            for (Map.Entry<String, String> e : LauncherSupport.nodeSettings(home, httpPort, args).entrySet()) {
                builder.put(e.getKey(), e.getValue());
            }

            org.opensearch.env.Environment environment =
                org.opensearch.node.InternalSettingsPreparer.prepareEnvironment(
                    builder.build(), Collections.emptyMap(), null, () -> "node-1");

            List<Class<? extends org.opensearch.plugins.Plugin>> plugins = Arrays.asList(
                org.opensearch.transport.Netty4Plugin.class,
                org.opensearch.analysis.common.CommonAnalysisPlugin.class,
                org.opensearch.index.mapper.MapperExtrasPlugin.class,
                org.opensearch.index.reindex.ReindexPlugin.class);

            final EmbeddedNode node = new EmbeddedNode(environment, plugins);
            LauncherSupport.runUntilStopped("opensearch", httpPort, () -> {
                node.close();
                if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                    System.err.println("node did not close within 30s");
                }
            }, node::start);
        }
    }

    /** Exposes the protected 2.x constructor that accepts classpath plugins. */
    static final class EmbeddedNode extends org.opensearch.node.Node {
        EmbeddedNode(
            org.opensearch.env.Environment environment,
            Collection<Class<? extends org.opensearch.plugins.Plugin>> classpathPlugins) {
            super(environment, classpathPlugins, true);
        }
    }
}
