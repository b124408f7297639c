using System.CommandLine;
using System.Globalization;
using BertSharp.Inference;
using BertSharp.Server;
using BertSharp.Tensors;

namespace BertSharp.Cli.Commands;

internal static class ServeCommand
{
    public const string ApiKeyVariable = "BERTSHARP_API_KEY";

    public static Command Create()
    {
        var defaults = new ServerOptions();
        var model = new Option<string>("--model") { Description = "A fine-tuned model directory", Required = true };
        var revision = ModelSource.Revision();
        var urls = new Option<string>("--urls") { Description = "Addresses to listen on, separated by ';' (port 0: any free port)", DefaultValueFactory = _ => defaults.Urls };
        var runtime = RuntimeOption.Create();
        var bf16 = ProviderOption.Create();
        var apiKey = new Option<string?>("--api-key") { Description = $"Require this key on /v1/* (Authorization: Bearer KEY or X-API-Key); default ${ApiKeyVariable}" };
        var metricsPublic = new Option<bool>("--metrics-public") { Description = "Serve /metrics without the API key (by default it needs the key too)" };
        var name = new Option<string?>("--name") { Description = "The model name in responses (default: the directory's name, or the hub id)" };
        var maxBatch = new Option<int>("--max-batch-size") { Description = "Most texts per model run", DefaultValueFactory = _ => defaults.MaxBatchSize };
        var maxWait = new Option<double>("--max-wait-ms") { Description = "How long a batch waits to fill once it has a text, while requests overlap (a lone request runs at once)", DefaultValueFactory = _ => defaults.MaxBatchWait.TotalMilliseconds };
        var queue = new Option<int>("--queue-limit") { Description = "Most texts waiting; beyond it requests get 503", DefaultValueFactory = _ => defaults.QueueLimit };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Largest request body", DefaultValueFactory = _ => defaults.MaxBodyBytes };
        var maxTexts = new Option<int>("--max-texts") { Description = "Most texts per request", DefaultValueFactory = _ => defaults.MaxTextsPerRequest };
        var maxChars = new Option<int>("--max-chars") { Description = "Longest text in characters", DefaultValueFactory = _ => defaults.MaxCharsPerText };
        var drainDelay = new Option<double>("--drain-delay") { Description = "On SIGTERM, seconds to keep serving while /health/ready says 503, so a load balancer takes this replica out first", DefaultValueFactory = _ => defaults.DrainDelay.TotalSeconds };
        var shutdownTimeout = new Option<double>("--shutdown-timeout") { Description = "On SIGTERM, most seconds to wait for requests in flight (drain delay included)", DefaultValueFactory = _ => defaults.ShutdownTimeout.TotalSeconds };
        var rateLimit = new Option<int>("--rate-limit") { Description = "Requests per second each client (remote address) may make to /v1/*; beyond it 429 with Retry-After (0: no limit)", DefaultValueFactory = _ => defaults.RateLimit };
        var rateBurst = new Option<int>("--rate-limit-burst") { Description = "Requests a client may send at once after a quiet spell (0: the rate limit)", DefaultValueFactory = _ => defaults.RateLimitBurst };
        var threads = new Option<int>("--threads") { Description = "Threads a forward pass uses, on either runtime (0: one per core); on a CPU shared with other busy processes, 1 answers single requests faster", DefaultValueFactory = _ => 0 };
        var command = new Command("serve", """
            Serve a fine-tuned model over HTTP, with a web page at / that shows the prediction, the
            WordPiece tokens and the attention of every layer and head.

            Endpoints: POST /v1/classify {"text": …} or {"texts": […]} (optional "text_pair(s)", "top_k"),
            or /v1/ner, /v1/qa, /v1/fill-mask by the model's head; POST /v1/embed, /v1/tokenize,
            /v1/attention, GET /v1/model, GET /health, GET /metrics (Prometheus); GET /health/live and
            GET /health/ready (200 once the model has run one warm-up pass, 503 while the queue is full)
            for probes. Errors are RFC 9457 problems (application/problem+json) with an "error": {"code",
            "message"} member. Concurrent requests are batched together. Ctrl+C or SIGTERM: /health/ready turns 503 for
            --drain-delay seconds while requests are still served, then the server stops accepting and
            finishes the requests in flight.

            Examples:
              bertsharp serve --model out/polarity
              bertsharp serve --model out/polarity --runtime onnx --urls http://0.0.0.0:8080 --api-key s3cret
              bertsharp serve --model /model --urls http://0.0.0.0:8080 --drain-delay 5   # behind a load balancer
              curl -s localhost:5000/v1/classify -H 'Content-Type: application/json' -d '{"text": "a gripping film"}'
            """);
        foreach (var o in new Option[] { model, revision, urls, runtime, bf16, apiKey, metricsPublic, name, maxBatch, maxWait, queue, maxBody, maxTexts, maxChars, rateLimit, rateBurst, drainDelay, shutdownTimeout, threads })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            var source = parse.GetValue(model)!;
            var directory = ModelSource.Resolve(source, parse.GetValue(revision));
            double waitMs = parse.GetValue(maxWait);
            if (!double.IsFinite(waitMs) || waitMs < 0) throw new ArgumentException($"--max-wait-ms {waitMs}: must be ≥ 0");
            double drainSeconds = parse.GetValue(drainDelay), shutdownSeconds = parse.GetValue(shutdownTimeout);
            if (!double.IsFinite(drainSeconds) || drainSeconds < 0) throw new ArgumentException($"--drain-delay {drainSeconds}: must be ≥ 0");
            if (!double.IsFinite(shutdownSeconds) || shutdownSeconds < 0) throw new ArgumentException($"--shutdown-timeout {shutdownSeconds}: must be ≥ 0");
            int threadCount = parse.GetValue(threads);
            if (threadCount < 0) throw new ArgumentException($"--threads {threadCount}: must be ≥ 0");
            // Set but empty (--api-key "" or an empty variable) is refused by Validate, never read as "no key".
            var key = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable);
            var options = new ServerOptions
            {
                Urls = parse.GetValue(urls)!,
                // A hub model's folder is named by its commit; its hub id names it better.
                ModelName = parse.GetValue(name) ?? (directory == source ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))) : source),
                ApiKey = key,
                MetricsPublic = parse.GetValue(metricsPublic),
                MaxBatchSize = parse.GetValue(maxBatch),
                MaxBatchWait = TimeSpan.FromMilliseconds(waitMs),
                QueueLimit = parse.GetValue(queue),
                MaxBodyBytes = parse.GetValue(maxBody),
                MaxTextsPerRequest = parse.GetValue(maxTexts),
                MaxCharsPerText = parse.GetValue(maxChars),
                RateLimit = parse.GetValue(rateLimit),
                RateLimitBurst = parse.GetValue(rateBurst),
                DrainDelay = TimeSpan.FromSeconds(drainSeconds),
                ShutdownTimeout = TimeSpan.FromSeconds(shutdownSeconds),
            };
            options.Validate();
            ProviderOption.Validate(parse.GetValue(bf16), RuntimeOption.Parse(parse.GetValue(runtime)));
            // The managed encoder's limit is the process's: this process serves one model.
            if (threadCount > 0) Gemm.MaxThreads = threadCount;
            using var classifier = Pipeline.Load(directory, RuntimeOption.Parse(parse.GetValue(runtime)), threadCount);
            // The managed pool has a thread per core, so more than that is what the cores give.
            int threadsUsed = classifier.Runtime == InferenceRuntime.Managed ? Math.Min(Gemm.MaxThreads, Environment.ProcessorCount)
                : threadCount > 0 ? threadCount : Environment.ProcessorCount;
            ProviderOption.Apply(classifier, parse.GetValue(bf16));
            var app = BertServer.Build(classifier, options);
            var authentication = options.ApiKey is null ? "authentication off: no API key"
                : $"authentication on: API key required on /v1/*{(options.MetricsPublic ? "" : " and /metrics")}";
            app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bertsharp: serving {options.ModelName} ({classifier.Runtime.ToString().ToLowerInvariant()}{(classifier.Runtime == InferenceRuntime.Managed ? ", " + ComputeProviders.Describe(classifier.Provider) : "")}, {classifier.Config.Architectures?.FirstOrDefault()}{(classifier is TextClassifier c ? $", {c.Labels.Count} labels" : "")}, {threadsUsed} {(threadsUsed == 1 ? "thread" : "threads")}) on {string.Join(" ", app.Urls)} ({authentication})")));
            app.Lifetime.ApplicationStopping.Register(() => Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bertsharp: stopping; not ready, serving for {options.DrainDelay.TotalSeconds:0.#} s more, then finishing the requests in flight")));
            app.Run();
            return 0;
        });
        return command;
    }
}
