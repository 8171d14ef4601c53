using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Sandgrain.Runtime.Generator;

/// <summary>
/// Generates, for every interface that derives from Orleans' <c>IGrainWithStringKey</c>, <c>IGrainWithGuidKey</c>,
/// <c>IGrainWithIntegerKey</c> or <c>IGrainObserver</c>, a proxy (what <c>GetGrain&lt;T&gt;</c> returns), a dispatcher
/// (what runs the call in the hosting silo) and a module-initializer registration. No reflection or
/// Reflection.Emit at run time.
/// </summary>
/// <remarks>
/// Orleans contracts carry no attribute of their own, so the pipeline starts from interface declarations with
/// a base list (a cheap syntactic filter) rather than <c>ForAttributeWithMetadataName</c>; the models it caches
/// are value-equatable, so unrelated edits regenerate nothing.
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed class ActorGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var interfaces = context.SyntaxProvider
            .CreateSyntaxProvider(static (node, _) => Parser.IsCandidate(node), static (ctx, ct) => Parser.Parse(ctx, ct))
            .Where(static m => m is not null);

        // Formatters for the user's [MessagePackObject] types, so no formatter is emitted at run time.
        var formatters = context.SyntaxProvider
            .ForAttributeWithMetadataName(FormatterParser.MessagePackObject, static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.TypeDeclarationSyntax, static (ctx, ct) => FormatterParser.Parse(ctx, ct))
            .Where(static m => m is not null);
        context.RegisterSourceOutput(formatters, static (spc, model) => spc.AddSource(FormatterEmitter.HintName(model!), FormatterEmitter.Emit(model!)));

        context.RegisterSourceOutput(interfaces, static (spc, model) =>
        {
            foreach (var d in model!.Diagnostics)
            {
                var location = d.FilePath.Length == 0
                    ? Location.None
                    : Location.Create(d.FilePath, new TextSpan(d.Start, d.Length), new LinePositionSpan(new LinePosition(d.StartLine, d.StartColumn), new LinePosition(d.EndLine, d.EndColumn)));
                spc.ReportDiagnostic(Diagnostic.Create(Diagnostics.ById(d.Id), location, System.Linq.Enumerable.ToArray(d.Arguments)));
            }

            if (model.Diagnostics.Count == 0)
            {
                spc.AddSource(Emitter.HintName(model), Emitter.Emit(model));
            }
        });
    }
}
