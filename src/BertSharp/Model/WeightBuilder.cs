using BertSharp.IO;
using BertSharp.Tensors;

namespace BertSharp.Model;

/// <summary>
/// Creates parameters from a module path (candle's VarBuilder): each module asks for its weights by
/// their last name segment and the path supplies the rest, so loading cannot drift from the
/// checkpoint's naming. Weights come from a <see cref="StateDict"/> (copied, so the model never aliases
/// the caller's tensors) or, where allowed or when there is no state dict, from Hugging Face's
/// initialisation: normal(0, initializer_range) for matrices, ones/zeros for LayerNorm and biases.
/// </summary>
internal sealed class WeightBuilder
{
    private readonly Shared _shared;
    private readonly string _path;
    private readonly bool _initMissing;

    private WeightBuilder(Shared shared, string path, bool initMissing)
    {
        _shared = shared;
        _path = path;
        _initMissing = initMissing;
    }

    // weights: the source tensors under checkpoint names (see StateDict.WithCheckpointNames), or null to
    // initialise everything. seed drives the initialisation of whatever is not loaded.
    // shareTensors: parameters take the source tensors themselves instead of copies — for a model built only to
    // check a checkpoint against its config, which then costs no weight memory.
    public static WeightBuilder Create(StateDict? weights, int seed, float initializerRange, bool shareTensors = false) =>
        new(new Shared(weights, new Random(seed), initializerRange, shareTensors), "", weights is null);

    /// <summary>True when there is no state dict and every weight is initialised.</summary>
    public bool IsRandom => _shared.Weights is null;

    /// <summary>Whether the model's weights may change (shared by every module of one model).</summary>
    public WeightState State => _shared.State;

    /// <summary>Parameters created so far through this builder and all builders derived from it, in creation order.</summary>
    public List<Parameter> Created => _shared.Created;

    /// <summary>A builder for the child module <paramref name="segment"/> (a name or a layer index).</summary>
    public WeightBuilder Push(string segment) => new(_shared, _path + segment + ".", _initMissing);

    /// <summary>The same path, but missing weights are initialised instead of being an error (new heads).</summary>
    public WeightBuilder InitMissing() => new(_shared, _path, true);

    /// <summary>The module path so far ("bert.encoder.layer.0."): parameter names are this plus their own name.</summary>
    public string Path => _path;

    /// <summary>Whether the source holds the weight <paramref name="name"/> under this path.</summary>
    public bool Has(string name) => _shared.Weights?.ContainsKey(_path + name) == true;

    public Parameter Get(string name, int[] shape, WeightInit init, bool applyWeightDecay)
    {
        FloatTensor value;
        if (_shared.Weights is not null && (!_initMissing || Has(name)))
        {
            var source = _shared.Weights.Get(_path + name, shape);
            value = _shared.ShareTensors ? source : new FloatTensor(shape, (float[])source.Data.Clone());
        }
        else
        {
            value = new FloatTensor(shape);
            Initialise(value.Data, init);
        }
        var p = new Parameter(_path + name, value, applyWeightDecay);
        _shared.Created.Add(p);
        return p;
    }

    private void Initialise(float[] data, WeightInit init)
    {
        switch (init)
        {
            case WeightInit.Ones:
                Array.Fill(data, 1f);
                break;
            case WeightInit.Normal:
                var rng = _shared.Rng;
                double std = _shared.InitializerRange;
                for (int i = 0; i < data.Length; i += 2)
                {
                    // Box–Muller gives two independent normals per pair of uniforms.
                    double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                    double r = Math.Sqrt(-2.0 * Math.Log(u1)) * std;
                    data[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
                    if (i + 1 < data.Length) data[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
                }
                break;
            default:
                Array.Clear(data);
                break;
        }
    }

    private sealed class Shared(StateDict? weights, Random rng, float initializerRange, bool shareTensors)
    {
        public bool ShareTensors { get; } = shareTensors;
        public StateDict? Weights { get; } = weights;
        public Random Rng { get; } = rng;
        public float InitializerRange { get; } = initializerRange;
        public List<Parameter> Created { get; } = [];
        public WeightState State { get; } = new();
    }
}
