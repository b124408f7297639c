using BertSharp.Inference;

namespace BertSharp.Server;

/// <summary>
/// The pipeline the server runs: the one given in <see cref="ServerOptions.Pipeline"/> (its owner disposes it),
/// or <see cref="ServerOptions.Model"/> loaded when first asked for and disposed with the app's services.
/// </summary>
internal sealed class ServedPipeline(ServerOptions options) : IDisposable
{
    private readonly Lazy<Pipeline> _pipeline = new(() => options.Pipeline ?? Pipeline.Load(options.Model!, options.Runtime, options.Threads));

    public Pipeline Pipeline => _pipeline.Value;

    public void Dispose()
    {
        if (options.Pipeline is null && _pipeline.IsValueCreated) _pipeline.Value.Dispose();
    }
}
