using BertSharp.Model;

namespace BertSharp.IO;

/// <summary>The checks only loading needs, on top of the architecture's own check of names and shapes.</summary>
internal static class LoadedWeights
{
    /// <summary>
    /// Every weight finite (a NaN or infinity makes every answer NaN, which the model would otherwise
    /// serve), and no encoder layer beyond the config's num_hidden_layers (those weights would silently
    /// go unused, where transformers at least warns).
    /// </summary>
    /// <exception cref="InvalidDataException">The message names the source, the tensor or the layers.</exception>
    public static void Check(BertConfig config, StateDict weights)
    {
        var extra = new SortedSet<int>();
        foreach (var (name, t) in weights)
        {
            int bad = FirstNonFinite(t.Data);
            if (bad >= 0)
                throw new InvalidDataException($"{weights.Source}: tensor '{name}' holds {t.Data[bad]} at element {bad}; the weights are not finite (a diverged training run?)");
            if (LayerOf(name) is int layer && layer >= config.NumHiddenLayers) extra.Add(layer);
        }
        if (extra.Count > 0)
            throw new InvalidDataException($"{weights.Source}: holds weights for encoder layer{(extra.Count > 1 ? "s" : "")} {string.Join(", ", extra)} " +
                $"but config.json's num_hidden_layers is {config.NumHiddenLayers}; the config does not match the weights");
    }

    // N of "[bert.]encoder.layer.N.…", else null.
    private static int? LayerOf(string name)
    {
        const string layerPrefix = "encoder.layer.";
        var rest = name.AsSpan(name.StartsWith("bert.", StringComparison.Ordinal) ? "bert.".Length : 0);
        if (!rest.StartsWith(layerPrefix, StringComparison.Ordinal)) return null;
        rest = rest[layerPrefix.Length..];
        int dot = rest.IndexOf('.');
        return dot > 0 && int.TryParse(rest[..dot], out int layer) ? layer : null;
    }

    private static int FirstNonFinite(float[] values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }
}
