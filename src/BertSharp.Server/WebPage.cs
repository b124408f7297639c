using Microsoft.AspNetCore.Http;

namespace BertSharp.Server;

/// <summary>The page at / and its script and style, served from resources embedded in this assembly.</summary>
internal sealed class WebPage
{
    private readonly Dictionary<string, (byte[] Bytes, string ContentType)> _files = [];

    public WebPage()
    {
        Add("/", "wwwroot/index.html", "text/html; charset=utf-8");
        Add("/app.js", "wwwroot/app.js", "text/javascript; charset=utf-8");
        Add("/app.css", "wwwroot/app.css", "text/css; charset=utf-8");
    }

    public IEnumerable<string> Paths => _files.Keys;

    public Task HandleAsync(HttpContext context)
    {
        var (bytes, contentType) = _files[context.Request.Path.Value ?? "/"];
        var response = context.Response;
        response.ContentType = contentType;
        response.ContentLength = bytes.Length;
        response.Headers.CacheControl = "no-cache";
        // The page talks only to this server and runs no inline code.
        response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
        response.Headers.XContentTypeOptions = "nosniff";
        return response.Body.WriteAsync(bytes).AsTask();
    }

    private void Add(string path, string resource, string contentType)
    {
        using var stream = typeof(WebPage).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the page resource {resource} is missing from the assembly");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        _files[path] = (memory.ToArray(), contentType);
    }
}
