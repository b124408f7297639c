namespace BertSharp.Model;

/// <summary>
/// Everything one forward/backward pass writes: saved activations per module and gradient scratch.
/// Buffers only grow, so a warm workspace serves any batch up to the largest seen without
/// allocating. One workspace serves one call at a time.
/// </summary>
/// <remarks>
/// A training workspace keeps one activation cache per layer for the backward pass. An inference
/// workspace has a single cache that every layer reuses in turn (a layer writes its output only after
/// its last read of its input), so inference memory does not grow with depth.
/// </remarks>
internal sealed class BertWorkspace
{
    private readonly int _modelLayers;

    public BertWorkspace(int modelLayers, bool training)
    {
        _modelLayers = modelLayers;
        Training = training;
        Layers = new BertLayer.Cache[training ? modelLayers : Math.Min(modelLayers, 1)];
        for (int i = 0; i < Layers.Length; i++) Layers[i] = new BertLayer.Cache();
    }

    /// <summary>Whether every layer has its own cache, as backward needs.</summary>
    public bool Training { get; }

    /// <summary>The input of the last forward pass (backward needs its ids).</summary>
    public BertInput? Input { get; set; }

    public int BatchSize => Input!.BatchSize;
    public int SequenceLength => Input!.SequenceLength;

    public KeyMask Mask { get; } = new();
    public float[] Pooled = [];
    public NormalizedSumCache Embeddings { get; } = new();
    public BertLayer.Cache[] Layers { get; }

    // Backward scratch: A and B ping-pong between layers, C is the embeddings' scratch.
    public float[] DHiddenA = [], DHiddenB = [], DHiddenC = [];
    public BertLayer.Scratch LayerScratch { get; } = new();

    /// <summary>Whether the last forward pass computed only the [CLS] rows of the last layer.</summary>
    public bool ClsOnly { get; set; }

    /// <summary>(B,T,C): the final layer's output; after a [CLS]-only pass only (B,C), see <see cref="ClsStride"/>.</summary>
    public float[] LastHidden => _modelLayers == 0 ? Embeddings.Output : Layers[^1].Out.Output;

    /// <summary>Distance between consecutive [CLS] rows in <see cref="LastHidden"/>: T·C, or C after a [CLS]-only pass.</summary>
    public int ClsStride(int hidden) => ClsOnly ? hidden : SequenceLength * hidden;
}
