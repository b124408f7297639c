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

    // x (N,C) → caches[L−1].Out.Output (N,C)
    public void Forward(float[] x, float[] maskAdd, BertLayer.Cache[] caches, int B, int T, DropoutStream? dropout)
    {
        for (int l = 0; l < Layers.Count; l++)
        {
            Layers[l].Forward(x, maskAdd, caches[l], B, T, dropout);
            x = caches[l].Out.Output;
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
