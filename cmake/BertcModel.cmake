# bertc_add_model(): compile a BERT-family model to a shared object at build time.
#
#   bertc_add_model(<name> MODEL <model-dir | model.json>
#                   [SEQ_LENS 16 32 ...] [BATCH_SIZES 1 8 ...]
#                   [TARGET_CPU <cpu>... | portable] [TARGET_FEATURES <+f,-g>]
#                   [WEIGHTS embed|external] [OPTIONS <more bertc compile flags>...]
#                   [BERTC <path to bertc>])
#
# runs `bertc compile MODEL -o ${CMAKE_CURRENT_BINARY_DIR}/<name>.so ...` when
# the .so is out of date, and defines
#   <name>          a custom target (part of ALL) that builds the .so (and
#                   <name>.so.weights with WEIGHTS external);
#   <name>_model    an INTERFACE library for the programs that load it: linking
#                   it links bertc::runtime, makes the program depend on <name>,
#                   and defines <NAME>_MODEL_PATH="/abs/path/<name>.so" (the name
#                   upper-cased, other characters made '_').
#
#   bertc_model_path(<name> <var>)          sets <var> to the .so's path
#   bertc_model_weights_path(<name> <var>)  the side file's path, or "" when embedded
#
# The .so is rebuilt when bertc changes or any file of the model does: every
# file under the model directory (hidden ones excluded), or for a model.json
# the file itself and everything under the checkpoint, config, weights and
# tokenizer paths it names (a changed model.json re-runs CMake, so the list
# follows it). TARGET_CPU defaults to bertc's (`native`, the building machine):
# pass a CPU name when the program runs elsewhere, or several (a CMake list or
# one comma-separated string; `portable` = x86-64-v3 + x86-64-v4) for one .so
# with a code variant per CPU, of which the runtime runs the best the host has. The bertc used is BERTC, else
# the imported bertc::bertc of find_package(bertc), or bertc's own build.

include_guard(GLOBAL)

# Every file that may feed a compile of `path` (a file or a directory).
function(_bertc_model_inputs path out_var)
  if(IS_DIRECTORY "${path}")
    file(GLOB_RECURSE rel_files LIST_DIRECTORIES false CONFIGURE_DEPENDS RELATIVE "${path}"
         "${path}/*")
    list(FILTER rel_files EXCLUDE REGEX "(^|/)\\.") # .git, .cache, ...
    list(TRANSFORM rel_files PREPEND "${path}/" OUTPUT_VARIABLE files)
  elseif(EXISTS "${path}")
    set(files "${path}")
  else()
    set(files "")
  endif()
  set(${out_var} ${files} PARENT_SCOPE)
endfunction()

# The files a model.json points at, and its weights_mode ("" when unset).
function(_bertc_model_json_inputs json out_files out_weights_mode)
  file(READ "${json}" text)
  string(JSON type ERROR_VARIABLE err TYPE "${text}")
  if(err OR NOT type STREQUAL "OBJECT")
    message(FATAL_ERROR "bertc_add_model: ${json} is not a JSON object ${err}")
  endif()
  get_filename_component(base "${json}" DIRECTORY)
  set(files "${json}")
  set(checkpoint_seen OFF)
  foreach(key checkpoint config weights tokenizer)
    string(JSON value ERROR_VARIABLE err GET "${text}" ${key})
    if(err OR value STREQUAL "")
      continue()
    endif()
    get_filename_component(value "${value}" ABSOLUTE BASE_DIR "${base}")
    if(key STREQUAL "config")
      get_filename_component(value "${value}" DIRECTORY) # the checkpoint by default
    endif()
    _bertc_model_inputs("${value}" more)
    list(APPEND files ${more})
  endforeach()
  list(REMOVE_DUPLICATES files)
  string(JSON mode ERROR_VARIABLE err GET "${text}" weights_mode)
  if(err)
    set(mode "")
  endif()
  set(${out_files} ${files} PARENT_SCOPE)
  set(${out_weights_mode} "${mode}" PARENT_SCOPE)
endfunction()

function(bertc_add_model name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "MODEL;TARGET_FEATURES;WEIGHTS;BERTC"
                        "SEQ_LENS;BATCH_SIZES;OPTIONS;TARGET_CPU")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "bertc_add_model(${name}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_MODEL)
    message(FATAL_ERROR "bertc_add_model(${name}): MODEL <model directory or model.json> is required")
  endif()
  get_filename_component(model "${arg_MODEL}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")

  # What the model is made of. A directory holding a model.json means the model.json.
  set(json "")
  if(IS_DIRECTORY "${model}" AND EXISTS "${model}/model.json")
    set(json "${model}/model.json")
  elseif(IS_DIRECTORY "${model}")
    if(NOT EXISTS "${model}/config.json")
      message(FATAL_ERROR "bertc_add_model(${name}): ${model} is not a model directory: "
                          "no config.json or model.json")
    endif()
  elseif(EXISTS "${model}")
    set(json "${model}")
  else()
    message(FATAL_ERROR "bertc_add_model(${name}): MODEL ${model} does not exist")
  endif()
  set(json_weights_mode "")
  if(json)
    _bertc_model_json_inputs("${json}" inputs json_weights_mode)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${json}")
  else()
    _bertc_model_inputs("${model}" inputs)
  endif()

  if(arg_BERTC)
    get_filename_component(bertc "${arg_BERTC}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    set(bertc_dep "${bertc}")
  elseif(TARGET bertc::bertc)
    set(bertc bertc::bertc)
    set(bertc_dep "$<TARGET_FILE:bertc::bertc>")
  else()
    message(FATAL_ERROR "bertc_add_model(${name}): no bertc: call find_package(bertc) first "
                        "or pass BERTC <path to the bertc executable>")
  endif()

  set(so "${CMAKE_CURRENT_BINARY_DIR}/${name}.so")
  set(outputs "${so}")
  set(weights "")
  set(flags "")
  if(arg_SEQ_LENS)
    list(JOIN arg_SEQ_LENS "," v)
    list(APPEND flags --seq-lens ${v})
  endif()
  if(arg_BATCH_SIZES)
    list(JOIN arg_BATCH_SIZES "," v)
    list(APPEND flags --batch-sizes ${v})
  endif()
  if(arg_TARGET_CPU)
    list(JOIN arg_TARGET_CPU "," cpus)
    list(APPEND flags --target-cpu ${cpus})
  endif()
  if(arg_TARGET_FEATURES)
    list(APPEND flags --target-features ${arg_TARGET_FEATURES})
  endif()
  if(arg_WEIGHTS)
    if(NOT arg_WEIGHTS MATCHES "^(embed|external)$")
      message(FATAL_ERROR "bertc_add_model(${name}): WEIGHTS wants embed or external, "
                          "got '${arg_WEIGHTS}'")
    endif()
    list(APPEND flags --weights ${arg_WEIGHTS})
  endif()
  if(arg_WEIGHTS STREQUAL "external" OR (NOT arg_WEIGHTS AND json_weights_mode STREQUAL "external"))
    set(weights "${so}.weights")
    list(APPEND outputs "${weights}")
  endif()

  add_custom_command(
    OUTPUT ${outputs}
    COMMAND ${bertc} compile -q "${model}" -o "${so}" ${flags} ${arg_OPTIONS}
    DEPENDS ${inputs} ${bertc_dep}
    COMMENT "Compiling model ${name} with bertc"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${outputs})
  set_target_properties(${name} PROPERTIES BERTC_MODEL_SO "${so}"
                                           BERTC_MODEL_WEIGHTS "${weights}")

  string(MAKE_C_IDENTIFIER "${name}" macro)
  string(TOUPPER "${macro}_MODEL_PATH" macro)
  add_library(${name}_model INTERFACE)
  add_dependencies(${name}_model ${name})
  target_compile_definitions(${name}_model INTERFACE "${macro}=\"${so}\"")
  if(TARGET bertc::runtime)
    target_link_libraries(${name}_model INTERFACE bertc::runtime)
  endif()
endfunction()

function(bertc_model_path name out_var)
  if(NOT TARGET ${name})
    message(FATAL_ERROR "bertc_model_path: no model '${name}' (see bertc_add_model)")
  endif()
  get_target_property(so ${name} BERTC_MODEL_SO)
  set(${out_var} "${so}" PARENT_SCOPE)
endfunction()

function(bertc_model_weights_path name out_var)
  if(NOT TARGET ${name})
    message(FATAL_ERROR "bertc_model_weights_path: no model '${name}' (see bertc_add_model)")
  endif()
  get_target_property(weights ${name} BERTC_MODEL_WEIGHTS)
  set(${out_var} "${weights}" PARENT_SCOPE)
endfunction()
