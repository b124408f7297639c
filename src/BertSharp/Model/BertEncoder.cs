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
    // clsOnly: the last layer computes only the [CLS] rows, (B,C) (see BertLayer.ForwardCls).
    public void Forward(float[] x, KeyMask mask, BertLayer.Cache[] caches, int B, int T, DropoutStream? dropout, PassMode mode,
        bool clsOnly, List<FloatTensor>? hiddenStates, List<FloatTensor>? attentions)
    {
        for (int l = 0; l < Layers.Count; l++)
        {
            var cache = caches[caches.Length == 1 ? 0 : l];
            if (clsOnly && l == Layers.Count - 1)
            {
                Layers[l].ForwardCls(x, mask, cache, B, T, dropout, mode);
                return;
            }
            bool nextIsCls = clsOnly && l + 1 == Layers.Count - 1;
            Layers[l].Forward(x, mask, cache, B, T, dropout, mode, l + 1 < Layers.Count && !nextIsCls && caches.Length == 1 ? Layers[l + 1] : null);
            x = cache.Out.Output;
            hiddenStates?.Add(TensorCopy.Of(x, B, T, Layers[l].SelfAttention.Query.Out));
            attentions?.Add(TensorCopy.Of(cache.Attention.Probs, B, Layers[l].SelfAttention.Heads, T, T));
        }
    }

    // dOut → the gradient of the encoder input, returned (one of the two (N,C) ping-pong buffers
    // dSpare and dSpare2). dOut is (N,C), or (B,C) after a clsOnly forward.
    public float[] Backward(float[] input, BertLayer.Cache[] caches, KeyMask mask, float[] dOut, float[] dSpare, float[] dSpare2,
        bool clsOnly, BertLayer.Scratch s, int B, int T)
    {
        int top = Layers.Count - 1;
        if (top < 0) return dOut;
        float[] Input(int l) => l == 0 ? input : caches[l - 1].Out.Output;
        if (clsOnly)
            Layers[top].BackwardCls(Input(top), caches[top], mask, dOut, dSpare, s, B, T);
        else
            Layers[top].Backward(Input(top), caches[top], mask, dOut, dSpare, s, B, T);
        (dOut, dSpare) = (dSpare, dSpare2);
        for (int l = top - 1; l >= 0; l--)
        {
            Layers[l].Backward(Input(l), caches[l], mask, dOut, dSpare, s, B, T);
            (dOut, dSpare) = (dSpare, dOut);
        }
        return dOut;
    }
}
