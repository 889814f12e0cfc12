import Shared

/// A job anywhere on the server: what the compare overlay is made of (marks survive moving between batches).
public struct JobRef: Hashable, Sendable {
    public var batchID: String
    public var jobID: String

    public init(batchID: String, jobID: String) {
        self.batchID = batchID
        self.jobID = jobID
    }
}

/// The batch screen's columns, left to right after the status; each sorts (`<`/`>` pick, `I` inverts) except
/// the sparkline. One list feeds the header, the cells, the sort and the filter.
public enum JobColumn: Int, CaseIterable, Sendable {
    case status, job, model, epoch, elapsed, valLoss, bestVal, gpu, loss

    var title: String {
        switch self {
        case .status: return "STATUS"
        case .job: return "JOB"
        case .model: return "MODEL"
        case .epoch: return "EPOCH"
        case .elapsed: return "ELAPSED"
        case .valLoss: return "VAL LOSS"
        case .bestVal: return "BEST VAL"
        case .gpu: return "GPU"
        case .loss: return "LOSS"
        }
    }

    /// The columns `<` and `>` step through.
    static let sortable: [JobColumn] = allCases.filter { $0 != .loss }

    /// Ascending order of two rows by this column; rows without a value go last whichever way it is sorted.
    func key(_ j: JobRow) -> SortKey {
        switch self {
        case .status: return .text(String(BatchRow.activeFirst[j.status] ?? 9) + j.status)
        case .job: return .text(j.id)
        case .model: return j.model.isEmpty ? .none : .text(j.model)
        case .epoch: return .number(j.epoch.map(Double.init))
        case .elapsed: return .number(j.elapsedS)
        case .valLoss: return .number(j.valLoss)
        case .bestVal: return .number(j.bestValLoss)
        case .gpu: return .number(j.gpuUtilPct)
        case .loss: return .none
        }
    }
}

enum SortKey: Comparable {
    case text(String)
    case number(Double?)
    case none

    /// nil when either has no value (they are placed by `JobSort.apply`, not compared).
    var value: (Double?, String?)? {
        switch self {
        case .text(let s): return (nil, s)
        case .number(let d?) where d.isFinite: return (d, nil)
        default: return nil
        }
    }

    static func < (a: SortKey, b: SortKey) -> Bool {
        switch (a.value, b.value) {
        case ((let x?, _)?, (let y?, _)?): return x < y
        case ((_, let x?)?, (_, let y?)?): return NaturalOrder.less(x, y)
        default: return false
        }
    }
}

/// How the batch screen orders its rows: by a column, either way; nil is the server's order (oldest job first).
public struct JobSort: Equatable, Sendable {
    public var column: JobColumn?
    public var descending = false

    /// Stable: equal keys keep the server's order; rows with no value for the column always go last.
    func apply(_ rows: [JobRow]) -> [JobRow] {
        guard let column else { return rows }
        let keyed = rows.enumerated().map { (i: $0.offset, row: $0.element, key: column.key($0.element)) }
        let (with, without) = (keyed.filter { $0.key.value != nil }, keyed.filter { $0.key.value == nil })
        let sorted = with.sorted { a, b in
            if a.key < b.key { return !descending }
            if b.key < a.key { return descending }
            return a.i < b.i
        }
        return (sorted + without).map(\.row)
    }
}

/// The `/` filter of the list screens: every word must appear (case-insensitively) in one of the row's texts.
struct ListFilter {
    /// The query's words, lowercased, each once: prepared once per list, not per row (a pasted query of thousands of
    /// characters, split again for each of 200 rows at every key, froze the screen).
    let words: [String]

    init(_ query: String) {
        var seen = Set<String>()
        words = query.lowercased().split(separator: " ").map(String.init).filter { seen.insert($0).inserted }
    }

    /// Every word is in one of `texts`, ignoring case.
    func matches(_ texts: [String]) -> Bool {
        guard !words.isEmpty else { return true }
        let hay = texts.map { $0.lowercased() }
        return words.allSatisfy { w in hay.contains { $0.contains(w) } }
    }
}

extension AppState {
    /// The batch screen's rows as shown: filtered by `/`, then sorted. The cursor indexes this list.
    public var shownJobs: [JobRow] {
        let filter = ListFilter(listFilter)
        let rows = jobs.filter { j in filter.matches([j.id, j.model, j.status]) }
        return jobSort.apply(rows)
    }

    /// The picker's rows as shown: filtered by `/` (id, project, host, status, owner).
    public var shownBatches: [BatchRow] {
        let filter = ListFilter(listFilter)
        return batches.filter { b in filter.matches([b.id, b.project, b.host, b.status, b.owner]) }
    }

    public func isMarked(_ ref: JobRef) -> Bool { marked.contains(ref) }
}
