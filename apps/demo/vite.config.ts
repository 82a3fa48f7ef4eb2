import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Two builds: production (`vite build`: index.html → dist/, what mtcall-demo serves) and test
// (`vite build --mode test`: test.html → dist-test/, the page driven by URL parameters for the end-to-end tests).
// The production build never sees test.html or src/test/.
export default defineConfig(({ mode }) => ({
  build: {
    outDir: mode === 'test' ? 'dist-test' : 'dist',
    target: 'es2022',
    sourcemap: true,
    rollupOptions: { input: fileURLToPath(new URL(mode === 'test' ? './test.html' : './index.html', import.meta.url)) },
  },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['@mtcall/transport'] },
}));
