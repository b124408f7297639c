using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>HF's BertEncoder (path <c>encoder</c>): the stack of <see cref="BertLayer"/>s at <c>encoder.layer.{i}</c>.</summary>
internal sealed class BertEncoder
{
    public BertEncoder(WeightBuilder wb, BertConfig config)
    {
        var layers = wb.Push("layer");
        var list = new BertLayer[config.NumHiddenLayers];
        for (int i = 0; i < list.Length; i++) list[i] = new BertLayer(layers.Push(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), config);
        Layers = list;
    }

    public IReadOnlyList<BertLayer> Layers { get; }

    // x (N,C) → caches[^1].Out.Output (N,C). With a single cache (inference) every layer reuses it.
    // hiddenStates and attentions, when given, receive a copy of each layer's output (B,T,C) and
    // attention probabilities (B,H,T,T).
    public void Forward(float[] x, float[] maskAdd, BertLayer.Cache[] caches, int B, int T, DropoutStream? dropout,
        List<Tensor>? hiddenStates, List<Tensor>? attentions)
    {
        for (int l = 0; l < Layers.Count; l++)
        {
            var cache = caches[caches.Length == 1 ? 0 : l];
            Layers[l].Forward(x, maskAdd, cache, B, T, dropout);
            x = cache.Out.Output;
            hiddenStates?.Add(TensorCopy.Of(x, B, T, Layers[l].SelfAttention.Query.Out));
            attentions?.Add(TensorCopy.Of(cache.Attention.Probs, B, Layers[l].SelfAttention.Heads, T, T));
        }
    }

    // dOut (N,C) → the gradient of the encoder input, returned (one of the two ping-pong buffers).
    public float[] Backward(float[] input, BertLayer.Cache[] caches, float[] dOut, float[] dSpare, BertLayer.Scratch s, int B, int T)
    {
        for (int l = Layers.Count - 1; l >= 0; l--)
        {
            var x = l == 0 ? input : caches[l - 1].Out.Output;
            Layers[l].Backward(x, caches[l], dOut, dSpare, s, B, T);
            (dOut, dSpare) = (dSpare, dOut);
        }
        return dOut;
    }
}
