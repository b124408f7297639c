using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace BertSharp.Server;

/// <summary>The page at / with its script, style and icon, served from resources embedded in this assembly.</summary>
internal static class WebPage
{
    private static readonly string[] GetOrHead = [HttpMethods.Get, HttpMethods.Head];

    public static void Map(IEndpointRouteBuilder root)
    {
        root.MapMethods("/", GetOrHead, Page);
        Add(root, "/app.js", "wwwroot/app.js", "text/javascript; charset=utf-8");
        Add(root, "/app.css", "wwwroot/app.css", "text/css; charset=utf-8");
        Add(root, "/favicon.svg", "wwwroot/favicon.svg", "image/svg+xml");
        // Browsers and crawlers ask for /favicon.ico whatever the page links; modern ones draw the SVG served there too.
        Add(root, "/favicon.ico", "wwwroot/favicon.svg", "image/svg+xml");
    }

    private static readonly byte[] Index = Read("wwwroot/index.html");

    private static Task Page(HttpContext context)
    {
        // The page's links are relative (the server may sit under a prefix): they need the path to end in '/'.
        var path = context.Request.PathBase + context.Request.Path;
        if (!path.Value!.EndsWith('/'))
        {
            context.Response.Redirect(path + "/" + context.Request.QueryString, permanent: true, preserveMethod: true);
            return Task.CompletedTask;
        }
        return WriteAsync(context, Index, "text/html; charset=utf-8");
    }

    private static void Add(IEndpointRouteBuilder root, string path, string resource, string contentType)
    {
        var bytes = Read(resource);
        root.MapMethods(path, GetOrHead, context => WriteAsync(context, bytes, contentType));
    }

    private static Task WriteAsync(HttpContext context, byte[] bytes, string contentType)
    {
        var response = context.Response;
        response.ContentType = contentType;
        response.ContentLength = bytes.Length;
        response.Headers.CacheControl = "no-cache";
        // The page talks only to this server and runs no inline code.
        response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
        response.Headers.XContentTypeOptions = "nosniff";
        return response.Body.WriteAsync(bytes).AsTask();
    }

    private static byte[] Read(string resource)
    {
        using var stream = typeof(WebPage).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the page resource {resource} is missing from the assembly");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
