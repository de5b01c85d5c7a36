/**
 * Types for the part of better-sqlite3 (v12) that xfmr uses. The package ships no types and
 * @types/better-sqlite3 would be one more dependency for a handful of signatures; these follow its
 * documentation (docs/api.md).
 */
declare module 'better-sqlite3' {
  namespace BetterSqlite3 {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    interface Statement {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      iterate(...params: unknown[]): IterableIterator<unknown>;
      readonly reader: boolean;
    }

    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      deferred(...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
      exclusive(...args: Parameters<F>): ReturnType<F>;
    }

    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      timeout?: number;
    }

    interface Database {
      readonly open: boolean;
      readonly readonly: boolean;
      readonly inTransaction: boolean;
      readonly name: string;
      prepare(sql: string): Statement;
      exec(sql: string): this;
      pragma(sql: string, options?: { simple?: boolean }): unknown;
      transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
      loadExtension(path: string, entryPoint?: string): this;
      close(): this;
    }
  }

  interface DatabaseConstructor {
    new (filename: string, options?: BetterSqlite3.Options): BetterSqlite3.Database;
    (filename: string, options?: BetterSqlite3.Options): BetterSqlite3.Database;
  }

  const Database: DatabaseConstructor & { prototype: BetterSqlite3.Database };
  namespace Database {
    type Database = BetterSqlite3.Database;
    type Statement = BetterSqlite3.Statement;
    type RunResult = BetterSqlite3.RunResult;
    type Options = BetterSqlite3.Options;
  }
  export = Database;
}
