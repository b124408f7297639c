namespace BertSharp.Server;

/// <summary>A request the server refuses, with the HTTP status and the error code the client sees.</summary>
internal sealed class ApiException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
}
