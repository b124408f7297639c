using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using BertSharp.Server;
using BertSharp.Tests.Server;
using Microsoft.Extensions.DependencyInjection;
using Encoding = System.Text.Encoding;

namespace BertSharp.Tests.Reliability;

/// <summary>The server against hostile or careless clients: no request may get a 500, grow the server, or hurt the others.</summary>
[Collection(ServedModel.Collection)]
public sealed class ServerHardeningTests(ServedModel model)
{
    private static readonly string[] PostEndpoints = ["/v1/classify", "/v1/embed", "/v1/tokenize", "/v1/attention"];

    private static async Task<JsonElement> ErrorOf(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");

    [Fact]
    public async Task InvalidUtf8AndLoneSurrogatesAreA400NamingTheProblem()
    {
        await using var server = await model.StartAsync();
        byte[][] bodies =
        [
            [.. "{\"text\": \"caf"u8, 0xC3, .. "\"}"u8],             // truncated sequence
            [.. "{\"text\": \""u8, 0xFF, 0xFE, .. "\"}"u8],          // bytes UTF-8 never uses
            [.. "{\"text\": \""u8, 0xED, 0xA0, 0x80, .. "\"}"u8],   // a surrogate encoded as UTF-8
            [.. "{\"texts\": [\"ok\", \""u8, 0xC0, 0xAF, .. "\"]}"u8], // overlong encoding
            "{\"text\": \"a \\ud800 b\"}"u8.ToArray(),                // escaped lone high surrogate
            "{\"texts\": [\"ok\", \"\\udc00\"]}"u8.ToArray(),          // escaped lone low surrogate
            "{\"text\": \"ok\", \"text\\ud800_pair\": \"b\"}"u8.ToArray(),  // in a property name (found by the fuzz pass)
        ];
        foreach (var path in PostEndpoints)
        {
            // /v1/attention takes one "text" only; "texts" is its own 422 there.
            foreach (var body in bodies.Where(b => path != "/v1/attention" || !Encoding.Latin1.GetString(b).Contains("\"texts\"", StringComparison.Ordinal)))
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new("application/json");
                using var r = await server.Client.PostAsync(path, content);
                Assert.True(r.StatusCode == HttpStatusCode.BadRequest, $"{path} {Encoding.Latin1.GetString(body)}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
                var code = (await ErrorOf(r)).GetProperty("code").GetString();
                Assert.True(code is "invalid_utf8" or "invalid_text", code);
            }
        }
        Assert.DoesNotContain("internal_error", await server.Client.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task InventedHttpMethodsDoNotGrowTheMetrics()
    {
        await using var server = await model.StartAsync();
        using (var warm = new HttpRequestMessage(new HttpMethod("INVENTED"), "/health")) (await server.Client.SendAsync(warm)).Dispose();
        int before = (await server.Client.GetStringAsync("/metrics")).Split('\n').Length;
        for (int i = 0; i < 300; i++)
        {
            using var request = new HttpRequestMessage(new HttpMethod($"M{i}X"), i % 2 == 0 ? "/health" : "/v1/classify");
            (await server.Client.SendAsync(request)).Dispose();
        }
        var metrics = await server.Client.GetStringAsync("/metrics");
        Assert.DoesNotContain("M17X", metrics);
        Assert.Contains("method=\"other\"", metrics);
        // At most one new series per route and status for "other" (and the GET of /metrics itself).
        Assert.True(metrics.Split('\n').Length - before <= 20, $"{before} → {metrics.Split('\n').Length} lines");
    }

    [Fact]
    public async Task MetricsNeedTheApiKeyUnlessMadePublic()
    {
        await using (var server = await model.StartAsync(new ServerOptions { ApiKey = "k3y" }))
        {
            using var anonymous = await server.Client.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal("unauthorized", (await ErrorOf(anonymous)).GetProperty("code").GetString());
            using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
            request.Headers.Add("X-API-Key", "k3y");
            using var keyed = await server.Client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, keyed.StatusCode);
        }
        await using (var server = await model.StartAsync(new ServerOptions { ApiKey = "k3y", MetricsPublic = true }))
        {
            using var anonymous = await server.Client.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        }
        Assert.Throws<ArgumentException>(() => new ServerOptions { ApiKey = " \t" }.Validate());
    }

    [Fact]
    public async Task HeadIsAnsweredWhereGetIsAndTheModelPathStaysPrivate()
    {
        await using var server = await model.StartAsync();
        foreach (var path in new[] { "/health", "/", "/v1/model" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Head, path);
            using var r = await server.Client.SendAsync(request);
            Assert.True(r.StatusCode == HttpStatusCode.OK, $"HEAD {path}: {(int)r.StatusCode}");
        }
        var info = JsonDocument.Parse(await server.Client.GetStringAsync("/v1/model")).RootElement;
        Assert.Equal(Path.GetFileName(model.Directory), info.GetProperty("source").GetString());
    }

    // A queue over a stand-in batch function (upper-casing, refusing "bad"), its first batch held at the
    // gate so that the requests sent meanwhile wait and are taken together.
    private static (BatchQueue<string, string> Queue, ModelGate Gate, TaskCompletionSource Hold, Task Held, List<int> Batches) HeldQueue(ServerMetrics metrics)
    {
        var (gate, hold, held) = HeldGate.Create();
        var batches = new List<int>();
        var queue = new BatchQueue<string, string>(items =>
        {
            lock (batches) batches.Add(items.Count);
            return items.Contains("bad") ? throw new ArgumentException("input_ids[0, 1] = 1000000 is outside the vocabulary") : [.. items.Select(i => i.ToUpperInvariant())];
        }, gate, new ServerOptions { QueueLimit = 2048 }, metrics);
        return (queue, gate, hold, held, batches);
    }

    [Fact]
    public async Task OneRequestTheModelCannotRunFailsAloneNotItsWholeBatch()
    {
        var (queue, gate, hold, held, _) = HeldQueue(new ServerMetrics(Meters()));
        await using var disposeGate = gate;
        await using var release = new Release(hold); // disposed first: the gate's disposal waits for the held batch
        var blocker = queue.RunAsync(["first"]);
        await held; // the queue is busy: the next three requests wait and run as one batch
        var good1 = queue.RunAsync(["a"]);
        var poisoned = queue.RunAsync(["bad"]);
        var good2 = queue.RunAsync(["b", "c"]);
        hold.TrySetResult();

        Assert.Equal(["FIRST"], await blocker);
        Assert.Equal(["A"], await good1);
        Assert.Equal(["B", "C"], await good2);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => poisoned);
        Assert.Contains("outside the vocabulary", e.Message);
    }

    [Fact]
    public async Task RequestsWhoseClientHasGoneAreNotComputed()
    {
        var meters = Meters();
        using var classified = new PrometheusText.CounterReader(meters, "bertsharp_texts_classified");
        var (queue, gate, hold, held, batches) = HeldQueue(new ServerMetrics(meters));
        await using var disposeGate = gate;
        await using var release = new Release(hold);
        var blocker = queue.RunAsync(["first"]);
        await held;
        var big = Enumerable.Range(0, 256).Select(i => $"text {i}").ToArray();
        using var gone = new CancellationTokenSource();
        var abandoned = Enumerable.Range(0, 4).Select(_ => queue.RunAsync(big, gone.Token)).ToArray();
        var waiting = queue.RunAsync(["next"]);
        gone.Cancel(); // the four clients disconnect while their requests wait
        hold.TrySetResult();

        await blocker;
        Assert.Equal(["NEXT"], await waiting);
        foreach (var task in abandoned) await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        lock (batches) Assert.Equal(2, batches.Sum()); // "first" and "next": none of the 1,024 abandoned texts
        Assert.Equal(2, classified.Total);
    }

    [Fact]
    public void ServeRefusesAnEmptyKeyAndReportsStartFailuresInOneLine()
    {
        foreach (var key in new[] { "", "   " })
        {
            var r = CliRunner.Run("serve", "--model", model.Directory, "--api-key", key);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("api key: empty or only whitespace", r.Stderr);
        }

        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        foreach (var urls in new[] { $"http://127.0.0.1:{port}", "not a url" })
        {
            var r = CliRunner.Run("serve", "--model", model.Directory, "--urls", urls);
            Assert.Equal(1, r.ExitCode);
            var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1 && lines[0].StartsWith("bertsharp: error: ", StringComparison.Ordinal), r.Stderr);
            Assert.DoesNotContain("   at ", r.Stdout); // the host's logger writes to stdout
        }
    }

    private static System.Diagnostics.Metrics.IMeterFactory Meters() =>
        new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddMetrics().BuildServiceProvider()
            .GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
}
