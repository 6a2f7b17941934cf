package org.elasticsearch.plugins;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A PluginsService that loads plugin classes straight from the classpath instead of from the
 * modules and plugins directories of a distribution (which an embedded test node does not have).
 *
 * <p>It lives in {@code org.elasticsearch.plugins} because {@code LoadedPlugin} and
 * {@code loadPlugin} are package-private; on the classpath (no module layer) that is allowed.
 */
public final class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(
        Settings settings, Environment environment, Collection<Class<? extends Plugin>> pluginClasses) {
        super(settings, environment.configDir(), PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false));
        List<LoadedPlugin> loaded = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin plugin = loadPlugin(pluginClass, settings, environment.configDir());
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "classpath plugin",
                "NA",
                Build.current().version(),
                Integer.toString(Runtime.version().feature()),
                pluginClass.getName(),
                null,
                List.of(),
                false,
                false,
                false,
                false);
            loaded.add(new LoadedPlugin(descriptor, plugin, pluginClass.getClassLoader()));
        }
        loadExtensions(loaded);
        this.classpathPlugins = List.copyOf(loaded);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }

    @Override
    public PluginsAndModules info() {
        return new PluginsAndModules(
            classpathPlugins.stream().map(p -> new PluginRuntimeInfo(p.descriptor())).toList(), List.of());
    }
}
