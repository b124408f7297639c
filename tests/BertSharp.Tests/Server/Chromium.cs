using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BertSharp.Tests.Server;

/// <summary>
/// Debian's headless Chromium driven over the Chrome DevTools Protocol on a WebSocket: one page,
/// real input events, evaluation and screenshots. No driver, no download.
/// </summary>
internal sealed class Chromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonNode>> _calls = new();
    private readonly CancellationTokenSource _stop = new();
    private Task _receive = Task.CompletedTask;
    private string? _session;
    private int _nextId;

    private Chromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    public static string Executable { get; } = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
        ?? throw new FileNotFoundException("no chromium: install Debian's package (apt-get install -y chromium), as .ci/run does");

    public static async Task<Chromium> StartAsync(int width, int height)
    {
        var profile = Directory.CreateTempSubdirectory("bertsharp-chromium-").FullName;
        var psi = new ProcessStartInfo(Executable) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            $"--user-data-dir={profile}", "--remote-debugging-port=0", $"--window-size={width},{height}", "about:blank",
        })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var browser = new Chromium(process, profile);
        try
        {
            // Chromium writes the port it chose, and the browser's WebSocket path, to this file.
            var portFile = Path.Combine(profile, "DevToolsActivePort");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            string[] lines = [];
            while (lines.Length < 2)
            {
                if (process.HasExited) throw new InvalidOperationException($"chromium exited with code {process.ExitCode} before opening its DevTools port");
                if (DateTime.UtcNow > deadline) throw new TimeoutException("chromium did not write DevToolsActivePort within 60 s");
                await Task.Delay(50);
                try { lines = File.Exists(portFile) ? File.ReadAllLines(portFile) : []; }
                catch (IOException) { lines = []; }
            }
            await browser._socket.ConnectAsync(new Uri($"ws://127.0.0.1:{lines[0]}{lines[1]}"), CancellationToken.None);
            browser._receive = browser.ReceiveAsync();
            var target = await browser.SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" });
            var attached = await browser.SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>(), ["flatten"] = true });
            browser._session = attached["sessionId"]!.GetValue<string>();
            await browser.SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    public Task NavigateAsync(string url) => SendAsync("Page.navigate", new JsonObject { ["url"] = url });

    /// <summary>Evaluates a JavaScript expression in the page (awaiting a promise) and returns its JSON value.</summary>
    public async Task<JsonNode?> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true });
        if (result["exceptionDetails"] is { } error) throw new InvalidOperationException($"page script failed: {error.ToJsonString()}");
        return result["result"]!["value"];
    }

    public async Task WaitForAsync(string condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        // A condition that throws (the page not loaded yet) counts as not yet true.
        while (!(await EvaluateAsync($"(() => {{ try {{ return !!({condition}); }} catch {{ return false; }} }})()"))!.GetValue<bool>())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the page never satisfied: {condition}");
            await Task.Delay(50);
        }
    }

    /// <summary>The centre of the first element matching a CSS selector, in viewport pixels.</summary>
    public async Task<(double X, double Y)> CentreOfAsync(string selector)
    {
        var node = await EvaluateAsync($"(() => {{ const e = document.querySelector({JsonSerializer.Serialize(selector)}); if (!e) return null; e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
            ?? throw new InvalidOperationException($"no element matches {selector}");
        return (node[0]!.GetValue<double>(), node[1]!.GetValue<double>());
    }

    public Task MoveMouseAsync(double x, double y) =>
        SendAsync("Input.dispatchMouseEvent", new JsonObject { ["type"] = "mouseMoved", ["x"] = x, ["y"] = y });

    public async Task ClickAsync(string selector)
    {
        var (x, y) = await CentreOfAsync(selector);
        await MoveMouseAsync(x, y);
        foreach (var type in new[] { "mousePressed", "mouseReleased" })
            await SendAsync("Input.dispatchMouseEvent", new JsonObject { ["type"] = type, ["x"] = x, ["y"] = y, ["button"] = "left", ["clickCount"] = 1 });
    }

    /// <summary>Types into the focused element as the keyboard would insert it.</summary>
    public Task InsertTextAsync(string text) => SendAsync("Input.insertText", new JsonObject { ["text"] = text });

    public async Task<byte[]> ScreenshotAsync()
    {
        var shot = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" });
        return Convert.FromBase64String(shot["data"]!.GetValue<string>());
    }

    private async Task<JsonNode> SendAsync(string method, JsonObject parameters)
    {
        int id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
        if (_session is not null) message["sessionId"] = _session;
        var call = new TaskCompletionSource<JsonNode>(TaskCreationOptions.RunContinuationsAsynchronously);
        _calls[id] = call;
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, endOfMessage: true, _stop.Token);
        return await call.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var r = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                var node = JsonNode.Parse(message.GetBuffer().AsSpan(0, (int)message.Length))!;
                message.SetLength(0);
                if (node["id"] is { } id && _calls.TryRemove(id.GetValue<int>(), out var call))
                {
                    if (node["error"] is { } error) call.SetException(new InvalidOperationException($"DevTools error: {error.ToJsonString()}"));
                    else call.SetResult(node["result"]!);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        foreach (var (_, call) in _calls) call.TrySetException(new InvalidOperationException("the DevTools connection closed"));
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _receive; } catch (OperationCanceledException) { }
        _socket.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        _stop.Dispose();
        try { Directory.Delete(_profile, recursive: true); }
        catch (IOException) { } // chromium's helpers may still hold a file for a moment
    }
}
