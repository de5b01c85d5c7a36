/**
 * Questions over the shipped docs/ folder, written as a user would ask them (not in the wording of
 * the documents or of the synthetic training templates), with gold answers that are exact spans of
 * the documents. `evidence` is a piece of the sentence that holds the answer (it finds the gold
 * paragraph); every answer must appear in that paragraph (eval.ts checks). DOCS_UNANSWERABLE asks
 * about the same topics, but nothing in docs/ answers it: the model should say it cannot find it.
 * Loaded when the evaluation runs, so edits here need no restart of a long recipe.
 */
export interface DocsQuestion {
  file: string;
  question: string;
  answers: string[];
  evidence: string;
}

const q = (file: string, question: string, answers: string[], evidence: string): DocsQuestion => ({
  file,
  question,
  answers,
  evidence,
});

export const DOCS_QUESTIONS: readonly DocsQuestion[] = [
  q(
    'overview.md',
    'Is xfmr a Python library or something else?',
    ['TypeScript'],
    'xfmr is written in TypeScript',
  ),
  q('overview.md', 'Will xfmr run on Node 18?', ['Node.js 20 or newer', '20'], 'needs Node.js 20'),
  q(
    'overview.md',
    'Can I use xfmr in a commercial product? What is its license?',
    ['MIT', 'MIT license'],
    'released under the MIT license',
  ),
  q(
    'overview.md',
    'Do I need to compile the TypeScript before running it?',
    ['tsx', 'there is no build step'],
    'no build step',
  ),
  q(
    'overview.md',
    'What happens if the native addon fails to build on my machine?',
    ['falls back to its pure TypeScript kernels', 'its pure TypeScript kernels'],
    'falls back',
  ),
  q(
    'overview.md',
    'My CPU has AVX2 but not AVX-512. Will the fast kernels still be used?',
    ['AVX-512 or AVX2', 'AVX2'],
    'uses AVX-512 or AVX2',
  ),
  q('overview.md', 'How do I limit how many threads xfmr uses?', ['XFMR_THREADS'], 'XFMR_THREADS sets'),
  q('overview.md', 'How do I force the pure JavaScript backend?', ['XFMR_BACKEND'], 'XFMR_BACKEND chooses'),
  q('overview.md', 'How can I check whether the native backend is active?', ['xfmr info'], 'xfmr info shows'),
  q('overview.md', 'How do I run the tests?', ['npm test'], 'npm test runs'),
  q(
    'cli.md',
    'Where is the code of each subcommand?',
    ['src/cli', 'in its own file in the folder src/cli'],
    'lives in its own file',
  ),
  q('cli.md', 'How do I see the token ids for a piece of text?', ['xfmr tokenize'], 'prints the token ids'),
  q(
    'cli.md',
    'How do I turn my text files into something pretraining can read?',
    ['xfmr data prepare'],
    'turns text files into token shards',
  ),
  q(
    'cli.md',
    'I have prompt/completion pairs. Which command fine-tunes on them?',
    ['xfmr sft'],
    'xfmr sft fine-tunes',
  ),
  q('cli.md', 'Is there a command for PPO against a reward model?', ['xfmr ppo'], 'xfmr ppo trains'),
  q(
    'cli.md',
    'How do I get deterministic greedy output from generate?',
    ['--temperature 0'],
    'gives greedy decoding',
  ),
  q('cli.md', 'How do I control how long the generated text is?', ['--max-tokens'], 'sets how many tokens'),
  q('cli.md', 'Can I get a picture of my loss curve?', ['xfmr plot'], 'draws loss curves'),
  q(
    'cli.md',
    'An error only shows one line. How do I see the full stack trace?',
    ['--verbose', 'the --verbose flag'],
    'only with the --verbose flag',
  ),
  q(
    'formats.md',
    'What files should a model folder contain?',
    ['config.json, model.safetensors, tokenizer.json and generation_config.json'],
    'It holds config.json',
  ),
  q(
    'formats.md',
    'Can xfmr load bfloat16 safetensors?',
    ['float32, float16 and bfloat16'],
    'reads safetensors files',
  ),
  q(
    'formats.md',
    'Where is the stop token of a model defined?',
    ['generation_config.json'],
    'names the end-of-sequence',
  ),
  q(
    'formats.md',
    'How do I get my model into Ollama?',
    ['xfmr export --format gguf'],
    'writes the GGUF file',
  ),
  q(
    'formats.md',
    'Does it support Qwen models?',
    ['GPT-2, Llama, Qwen2 and Mistral', 'Qwen2'],
    'supported model families',
  ),
  q('formats.md', 'Can I use BERT with xfmr?', ['as an encoder for embeddings'], 'BERT is supported'),
  q(
    'tokenizers.md',
    "Does xfmr ship any of OpenAI's encodings, and which ones?",
    ['gpt2, cl100k_base and o200k_base'],
    'tiktoken encodings',
  ),
  q(
    'tokenizers.md',
    'Can I train a WordPiece tokenizer instead of BPE?',
    ['--type'],
    'The option --type chooses',
  ),
  q(
    'tokenizers.md',
    'How do I pick how many tokens my new tokenizer has?',
    ['--vocab-size'],
    'sets the size of the vocabulary',
  ),
  q(
    'tokenizers.md',
    'If my text contains <|endoftext|>, is it treated as a special token?',
    ['Special tokens in user text are not parsed by default', 'not parsed by default'],
    'not parsed by default',
  ),
  q(
    'training.md',
    'What learning rate does pretraining use if I do not set one?',
    ['0.001'],
    'default learning rate',
  ),
  q(
    'training.md',
    'My training run crashed. How do I pick it up where it stopped?',
    ['--resume', 'the --resume flag'],
    'with the --resume flag',
  ),
  q('training.md', 'Where can I find the loss of every step?', ['metrics.jsonl'], 'metrics.jsonl'),
  q(
    'training.md',
    'During SFT, do the prompt tokens count in the loss?',
    ['-100', 'they add nothing to the loss'],
    'target -100',
  ),
  q('training.md', 'What beta does DPO use by default?', ['0.1'], 'default beta'),
  q(
    'training.md',
    'How big is the Bible example model?',
    ['4 layers and 2.2M parameters', '2.2M parameters'],
    'has 4 layers',
  ),
  q(
    'rag.md',
    'What database does the RAG feature use?',
    ['SQLite', 'an SQLite database with the sqlite-vec extension'],
    'keeps the documents',
  ),
  q('rag.md', 'Can I index PDF files?', ['Markdown, HTML and text files'], 'Folders are walked'),
  q(
    'rag.md',
    'Do I need to download an embedding model to use RAG?',
    ['nothing to download', 'a set of word vectors that xfmr trained and ships'],
    'default embedder',
  ),
  q(
    'rag.md',
    'How does hybrid search combine keyword and vector results?',
    ['reciprocal rank fusion'],
    'fuses BM25',
  ),
  q('rag.md', 'Which k does reciprocal rank fusion use?', ['60', '5'], 'constant of reciprocal rank fusion'),
  q(
    'rag.md',
    'Can rag ask use a remote model instead of a local one?',
    ['an OpenAI-compatible endpoint', 'OpenAI-compatible endpoint'],
    'answers a question with a local model',
  ),
  q('serving.md', 'Which web framework is the server written with?', ['Hono'], 'built on Hono'),
  q(
    'serving.md',
    'I opened the playground but nothing is on port 3000. Which port is it?',
    ['8080', 'port 8080'],
    'listens on port 8080',
  ),
  q(
    'serving.md',
    'How do I run the server on a different port?',
    ['PORT', 'The PORT environment variable'],
    'PORT environment variable',
  ),
  q('serving.md', 'Can other machines reach the server by default?', ['127.0.0.1'], 'default host'),
  q('serving.md', 'What status do I get when the request queue is full?', ['429'], 'full queue'),
  q(
    'serving.md',
    'How many requests are batched together by default?',
    ['8 slots', '8'],
    'batches generations',
  ),
  q('serving.md', 'How does a streamed response end?', ['data: [DONE]'], 'end with data'),
  q(
    'model.md',
    'How long a prompt can the bundled model take?',
    ['512 tokens', '512'],
    'context length is 512',
  ),
  q(
    'model.md',
    'What text was the shipped model pretrained on?',
    ['the King James Bible', 'King James Bible'],
    'was pretrained on',
  ),
  q('model.md', 'How do I retrain the shipped model myself?', ['npm run recipe'], 'trains the model again'),
  q('model.md', 'What precision are the shipped weights in?', ['float16'], 'stored in float16'),
];

/** Questions about the same topics whose answer is in no file of docs/. */
export const DOCS_UNANSWERABLE: readonly string[] = [
  'Does xfmr run in the browser without Node.js?',
  'Who are the maintainers of xfmr?',
  'Which GPU vendors does xfmr support?',
  'How much memory does pretraining the Bible model need?',
  'Can I train a tokenizer on a CSV file with several columns?',
  'What is the default batch size of xfmr sft?',
  'Does xfmr support LoRA adapters on GGUF files?',
  'Which embedding dimension does the hash embedder use?',
  'How do I delete a document from the RAG database?',
  'Does the server support TLS certificates?',
  'How many parameters does the shipped RAG model have?',
  'What was the training loss of the shipped model after DPO?',
];
