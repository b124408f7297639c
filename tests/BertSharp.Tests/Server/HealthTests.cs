using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using BertSharp.Server;
using Microsoft.Extensions.DependencyInjection;

namespace BertSharp.Tests.Server;

/// <summary>Liveness, readiness after warm-up, and the drain on shutdown that lets a load balancer lose no request.</summary>
[Collection(ServedModel.Collection)]
public sealed class HealthTests(ServedModel model)
{
    private static async Task<(HttpStatusCode Status, string State)> ReadyAsync(HttpClient client)
    {
        using var r = await client.GetAsync("/health/ready");
        return (r.StatusCode, JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString()!);
    }

    [Fact]
    public async Task Ready_only_once_a_forward_pass_has_run()
    {
        var hold = new ManualResetEventSlim();
        Task<bool>? holding = null;
        // Occupy the model before the server starts: the warm-up pass has to wait behind it.
        await using var server = await model.StartAsync(configure: app =>
            holding = app.Services.GetRequiredService<ModelGate>().RunExclusiveAsync(() => hold.Wait(TimeSpan.FromSeconds(30))));
        using (var live = await server.Client.GetAsync("/health/live")) Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        await Task.Delay(300);
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "starting"), await ReadyAsync(server.Client));
        using (var old = await server.Client.GetAsync("/health")) Assert.Equal(HttpStatusCode.OK, old.StatusCode);
        hold.Set();
        Assert.True(await holding!);
        await Poll.UntilAsync(async () => (await ReadyAsync(server.Client)).Status == HttpStatusCode.OK, "ready");
        Assert.Equal("ready", (await ReadyAsync(server.Client)).State);
    }

    [Fact]
    public async Task Shutdown_reports_draining_and_still_answers_for_the_drain_delay()
    {
        var server = await model.StartAsync(new ServerOptions { DrainDelay = TimeSpan.FromSeconds(2), ShutdownTimeout = TimeSpan.FromSeconds(20) });
        await Poll.UntilAsync(async () => (await ReadyAsync(server.Client)).Status == HttpStatusCode.OK, "ready");
        var clock = Stopwatch.StartNew();
        var stopping = server.App.StopAsync();
        await Poll.UntilAsync(async () => (await ReadyAsync(server.Client)).State == "draining", "draining");
        // A balancer has not noticed yet: requests that still come are answered.
        using var r = await server.PostJsonAsync("/v1/classify", JsonSerializer.Serialize(new { text = model.HeldOut[0].Text }));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await ReadyAsync(server.Client)).Status);
        Assert.False(stopping.IsCompleted, "stopped before the drain delay");
        await stopping.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"stopped after {clock.Elapsed.TotalSeconds:F2} s");
        await Assert.ThrowsAsync<HttpRequestException>(() => server.Client.GetAsync("/health/live"));
        server.Client.Dispose();
        await server.App.DisposeAsync();
    }

    [Fact]
    public void A_drain_delay_must_fit_in_the_shutdown_timeout()
    {
        var e = Assert.Throws<ArgumentException>(() => new ServerOptions { DrainDelay = TimeSpan.FromSeconds(30) }.Validate());
        Assert.Contains("shorter than the shutdown timeout", e.Message);
        Assert.Throws<ArgumentException>(() => new ServerOptions { DrainDelay = TimeSpan.FromSeconds(-1) }.Validate());
    }

    [Fact]
    public async Task Sigterm_drains_then_exits_cleanly_with_no_failed_request()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { CliRunner.CliPath, "serve", "--model", model.Directory, "--urls", "http://127.0.0.1:0", "--drain-delay", "1.5" }) psi.ArgumentList.Add(a);
        using var serve = Process.Start(psi)!;
        var stderr = serve.StandardError.ReadToEndAsync();
        try
        {
            string? line;
            while ((line = await serve.StandardOutput.ReadLineAsync()) is not null && !line.Contains(" on http://")) { }
            if (line is null) Assert.Fail("serve ended before listening: " + await stderr);
            // "… on http://127.0.0.1:PORT (authentication …)": the address is the word after " on ".
            using var client = new HttpClient { BaseAddress = new Uri(line![(line.LastIndexOf(" on ", StringComparison.Ordinal) + 4)..].Split(' ')[0]) };
            await Poll.UntilAsync(async () => (await ReadyAsync(client)).Status == HttpStatusCode.OK, "ready");

            // Keep requests coming from four clients while the process is told to stop; the ones that
            // reach it before it stops accepting must all be answered (the rest find the port closed).
            int answered = 0, failed = 0;
            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        using var r = await client.PostAsync("/v1/classify", new StringContent("{\"text\": \"a gripping film\"}", Encoding.UTF8, "application/json"));
                        if (r.StatusCode == HttpStatusCode.OK) Interlocked.Increment(ref answered);
                        else Interlocked.Increment(ref failed);
                    }
                    catch (HttpRequestException)
                    {
                        return; // the server no longer accepts: the drain is over
                    }
                }
            })).ToArray();
            await Task.Delay(500);
            int before = Volatile.Read(ref answered);
            using (var kill = Process.Start("kill", ["-TERM", serve.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            Assert.True(serve.WaitForExit(TimeSpan.FromSeconds(20)), "serve did not exit after SIGTERM");
            stop.Cancel();
            await Task.WhenAll(load);
            Assert.Equal(0, serve.ExitCode);
            Assert.Equal(0, failed);
            Assert.True(answered > before, "no request was answered during the drain delay");
            Assert.Contains("stopping; not ready", await serve.StandardOutput.ReadToEndAsync() + line);
        }
        finally
        {
            if (!serve.HasExited) serve.Kill(true);
        }
    }
}
