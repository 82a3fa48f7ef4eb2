// The demo server is built without declarations (apps/demo/tsconfig.server.json); the part the browser test uses.
declare module '@mtcall/demo/dist-server/server.js' {
  export interface RunningDemoServer {
    url: string;
    signaling: { url: string; core: { stats: { users: number } } };
    reports: Map<string, unknown>;
    close(): Promise<void>;
  }
  export function startDemoServer(options?: { port?: number; host?: string; app?: 'production' | 'test'; mitm?: boolean; collectReports?: boolean; log?: boolean }): Promise<RunningDemoServer>;
}
