import HTTPTypes
import Hummingbird

/// Added to the router after every route, so it sees only the requests no route answered: a path the router knows
/// under other methods is 405 with `Allow` naming them (ErrorMiddleware words it), not "no such route".
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = ArgusRequestContext
    /// Each route's path pattern and method.
    let routes: [(pattern: [RouterPath.Element], method: HTTPRequest.Method)]

    init(routes: [Router<ArgusRequestContext>.RouteDescription]) {
        self.routes = routes.map { (Array($0.path), $0.method) }
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let allowed = methods(path: request.uri.path)
        guard !allowed.isEmpty, !allowed.contains(request.method) else { return try await next(request, context) }
        throw HTTPError(
            .methodNotAllowed, headers: [.allow: allowed.map(\.rawValue).sorted().joined(separator: ", ")])
    }

    /// The methods of the routes whose pattern matches `path`.
    func methods(path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var found = Set<HTTPRequest.Method>()
        for route in routes where Self.matches(route.pattern, segments) { found.insert(route.method) }
        return found
    }

    private static func matches(_ pattern: [RouterPath.Element], _ segments: [Substring]) -> Bool {
        for (i, element) in pattern.enumerated() {
            if element == RouterPath.Element.recursiveWildcard { return true }
            guard i < segments.count, element ~= segments[i] else { return false }
        }
        return pattern.count == segments.count
    }
}
