package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An Elasticsearch node whose plugins are classes on the classpath.
 *
 * <p>In {@code org.elasticsearch.node} because {@code Node(NodeConstruction)} and
 * {@code NodeServiceProvider} are package-private in 8.19.
 */
public final class ClasspathNode extends Node {
    public ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> pluginClasses) {
        super(NodeConstruction.prepareConstruction(
            environment,
            PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false),
            new ClasspathServiceProvider(List.copyOf(pluginClasses)),
            true));
    }

    private static final class ClasspathServiceProvider extends NodeServiceProvider {
        private final List<Class<? extends Plugin>> pluginClasses;

        ClasspathServiceProvider(List<Class<? extends Plugin>> pluginClasses) {
            this.pluginClasses = pluginClasses;
        }

        @Override
        PluginsService newPluginService(Environment environment, PluginsLoader pluginsLoader) {
            return new ClasspathPluginsService(environment.settings(), environment, pluginClasses);
        }
    }
}
