import Foundation
import TestSupport

@testable import ArgusServer

extension TestDatabase {
    /// Another session holding the replicas' write lock (`PostgresDatabase.writeLockKey`) for `seconds`, as a long
    /// write elsewhere would: psql on a thread of its own, started now (give it a moment to take the lock).
    @discardableResult
    func holdWriteLock(seconds: Double) -> Thread {
        let holding = Thread {
            _ = try? TestPostgres.psql(
                url, "BEGIN; SELECT pg_advisory_xact_lock(\(PostgresDatabase.writeLockKey)); SELECT pg_sleep(\(seconds)); COMMIT;")
        }
        holding.start()
        return holding
    }
}
