/**
 * Hand-written questions over the shipped docs/ folder, with gold answers that are exact spans of
 * the documents. `evidence` is a piece of the sentence that holds the answer (it finds the gold
 * paragraph); every answer must appear in that paragraph (eval.ts checks). Loaded when the
 * evaluation runs, so edits here need no restart of a long recipe.
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
  q('overview.md', 'What language is xfmr written in?', ['TypeScript'], 'xfmr is written in TypeScript'),
  q(
    'overview.md',
    'Which version of Node.js does xfmr need?',
    ['Node.js 20 or newer', '20'],
    'needs Node.js 20',
  ),
  q(
    'overview.md',
    'What license is xfmr released under?',
    ['MIT', 'MIT license'],
    'released under the MIT license',
  ),
  q(
    'overview.md',
    'What is the native addon of xfmr written in?',
    ['C++17'],
    'native addon written in C++17',
  ),
  q(
    'overview.md',
    'Which environment variable sets the number of threads?',
    ['XFMR_THREADS'],
    'XFMR_THREADS sets',
  ),
  q(
    'overview.md',
    'Which environment variable chooses the backend?',
    ['XFMR_BACKEND'],
    'XFMR_BACKEND chooses',
  ),
  q('overview.md', 'Which command shows the backend in use?', ['xfmr info'], 'xfmr info shows'),
  q(
    'cli.md',
    'What is the command-line program of the project called?',
    ['xfmr'],
    'program of the project is called',
  ),
  q('cli.md', 'Which command trains a tokenizer?', ['xfmr tokenizer train'], 'xfmr tokenizer train trains'),
  q(
    'cli.md',
    'Which command fine-tunes a model on prompt and completion pairs?',
    ['xfmr sft'],
    'xfmr sft fine-tunes',
  ),
  q(
    'cli.md',
    'Which command aligns a model with Direct Preference Optimization?',
    ['xfmr dpo'],
    'xfmr dpo aligns',
  ),
  q('cli.md', 'Which option gives greedy decoding?', ['--temperature 0'], 'gives greedy decoding'),
  q(
    'cli.md',
    'Which flag prints a stack trace?',
    ['--verbose', 'the --verbose flag'],
    'only with the --verbose flag',
  ),
  q(
    'formats.md',
    'In which format are the weights stored?',
    ['safetensors', 'the safetensors format'],
    'weights are stored',
  ),
  q(
    'formats.md',
    'Which file names the end-of-sequence token?',
    ['generation_config.json'],
    'names the end-of-sequence',
  ),
  q(
    'formats.md',
    'Which command writes the GGUF file?',
    ['xfmr export --format gguf'],
    'writes the GGUF file',
  ),
  q(
    'formats.md',
    'What are the supported model families?',
    ['GPT-2, Llama, Qwen2 and Mistral'],
    'supported model families',
  ),
  q(
    'tokenizers.md',
    'Which option sets the size of the vocabulary?',
    ['--vocab-size'],
    'sets the size of the vocabulary',
  ),
  q(
    'tokenizers.md',
    'What is the end-of-text token of the trained tokenizers?',
    ['<|endoftext|>'],
    'end-of-text token',
  ),
  q('training.md', 'What optimizer does pretraining use?', ['AdamW'], 'optimizer is AdamW'),
  q('training.md', 'What is the default learning rate of xfmr pretrain?', ['0.001'], 'default learning rate'),
  q(
    'training.md',
    'Which flag continues a run from its last checkpoint?',
    ['--resume', 'the --resume flag'],
    'with the --resume flag',
  ),
  q('training.md', 'What is the default beta of xfmr dpo?', ['0.1'], 'default beta'),
  q(
    'training.md',
    'How many layers does the example model of the King James Bible have?',
    ['4', '4 layers'],
    'has 4 layers',
  ),
  q(
    'rag.md',
    'Where does xfmr keep the documents?',
    ['in an SQLite database', 'SQLite database'],
    'keeps the documents',
  ),
  q('rag.md', 'What is the default retrieval mode?', ['hybrid'], 'default retrieval mode'),
  q(
    'rag.md',
    'What is the constant of reciprocal rank fusion?',
    ['60'],
    'constant of reciprocal rank fusion',
  ),
  q(
    'serving.md',
    'What port does the server listen on by default?',
    ['8080', 'port 8080'],
    'listens on port 8080',
  ),
  q(
    'serving.md',
    'Which environment variable sets another port?',
    ['PORT', 'The PORT environment variable'],
    'PORT environment variable',
  ),
  q('serving.md', 'What is the default host?', ['127.0.0.1'], 'default host'),
  q('serving.md', 'What status code do invalid requests get?', ['400'], 'Invalid requests get'),
  q('serving.md', 'What is the server built on?', ['Hono'], 'built on Hono'),
  q(
    'model.md',
    'What is the context length of the shipped model?',
    ['512 tokens', '512'],
    'context length is 512',
  ),
  q(
    'model.md',
    'Which Debian package does the King James Bible come from?',
    ['bible-kjv'],
    'Debian package bible-kjv',
  ),
  q(
    'model.md',
    'Which command trains the model again from scratch?',
    ['npm run recipe'],
    'trains the model again',
  ),
];
